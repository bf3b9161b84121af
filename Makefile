# One runner for xcomlab. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= data/samples/af3/airflow.db
# Airflow 3.3 for the adapter's integration test, in its own venv so that its ~90
# dependencies never enter $(VENV) (tests/backend/test_airflow_integration.py).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_PY := $(AIRFLOW_VENV)/bin/python

.PHONY: demo test lint typecheck bench install install-dev airflow-env samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps: pip runs again only when pyproject.toml changed (or the venv is new).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/xcomlab profile $(SAMPLE)
	$(BIN)/xcomlab report $(SAMPLE) -o report.html
	@echo "Report: $(CURDIR)/report.html (self-contained; open it in any browser)"

# Headless Chromium for tests/test_report.py and tests/browser/ (Debian's package; ~40 s to install).
# Installs only when missing and only as root; otherwise says what to do.
.PHONY: browser-deps
browser-deps:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then \
		echo "chromium: $$(command -v chromium || echo /usr/bin/chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "chromium missing: run 'make browser-deps' as root, or apt-get install chromium"; \
	fi

# uv (from PyPI) resolves and installs apache-airflow in 20–26 s; plain pip is the fallback.
# The stamp is re-made when pyproject.toml changes; the venv ignores itself in git.
$(AIRFLOW_VENV)/.installed: pyproject.toml
	test -x $(AIRFLOW_PY) || $(PYTHON) -m venv $(AIRFLOW_VENV)
	printf '*\n' > $(AIRFLOW_VENV)/.gitignore
	( $(AIRFLOW_PY) -m pip install -q --upgrade uv && \
	  $(AIRFLOW_PY) -m uv pip install --python $(AIRFLOW_PY) -q -e '.[airflow-bench]' ) || \
	  $(AIRFLOW_PY) -m pip install -q -e '.[airflow-bench]'
	touch $@

airflow-env: $(AIRFLOW_VENV)/.installed

# XCOMLAB_REQUIRE_AIRFLOW=1: the Airflow integration test fails instead of skipping.
test: install-dev airflow-env
	XCOMLAB_REQUIRE_AIRFLOW=1 XCOMLAB_AIRFLOW_PYTHON=$(CURDIR)/$(AIRFLOW_PY) $(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check xcomlab tests benchmarks notebooks
	$(BIN)/mypy

bench: install-dev airflow-env
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.simulate
	$(BIN)/python -m benchmarks.backend --airflow-python $(CURDIR)/$(AIRFLOW_PY)

samples: install
	$(BIN)/python -m xcomlab.synth --samples data/samples

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) build *.egg-info
