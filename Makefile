# One runner for xcomlab. `make demo` and `make test` are the README's two commands;
# `make check` is the fast test loop.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= data/samples/af3/airflow.db
# Airflow 3.3 for the adapter's integration test, in its own venv so that its ~90
# dependencies never enter $(VENV) (tests/backend/test_airflow_integration.py).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_PY := $(AIRFLOW_VENV)/bin/python
# Airflow 2.10.5 (SQLAlchemy 1.4) for the Airflow 2 adapter's integration test and the
# backend suite on SQLAlchemy 1.4 (tests/backend/test_airflow2_integration.py).
AIRFLOW2_VENV ?= .venv-airflow2
AIRFLOW2_PY := $(AIRFLOW2_VENV)/bin/python
AIRFLOW2_VERSION ?= 2.10.5
# Test tools for the backend suite in that venv (pandas: the store's rows() / measurements()).
AIRFLOW2_TEST_DEPS := pytest hypothesis psycopg2-binary pymysql pandas statsd

.PHONY: demo test check lint typecheck bench calibrate install install-dev airflow-env airflow2-env test-sa14 samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps: pip runs again only when pyproject.toml changed (or the venv is new).
# The CLI and notebooks need the toolkit: extra `lab` (the bare package is the backend only).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[lab]'
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

# apache-airflow pinned with our package and its extra resolved together; `pip check` must pass.
$(AIRFLOW2_VENV)/.installed: pyproject.toml
	test -x $(AIRFLOW2_PY) || $(PYTHON) -m venv $(AIRFLOW2_VENV)
	printf '*\n' > $(AIRFLOW2_VENV)/.gitignore
	( $(AIRFLOW2_PY) -m pip install -q --upgrade uv && \
	  $(AIRFLOW2_PY) -m uv pip install --python $(AIRFLOW2_PY) -q -e '.[airflow2]' \
	    'apache-airflow==$(AIRFLOW2_VERSION)' $(AIRFLOW2_TEST_DEPS) ) || \
	  $(AIRFLOW2_PY) -m pip install -q -e '.[airflow2]' 'apache-airflow==$(AIRFLOW2_VERSION)' \
	    $(AIRFLOW2_TEST_DEPS)
	$(AIRFLOW2_PY) -m pip check
	touch $@

airflow2-env: $(AIRFLOW2_VENV)/.installed

# The backend's store suite on SQLAlchemy 1.4 (Airflow 2's pin) in the Airflow 2 venv; the
# toolkit tests (load_export) need SQLAlchemy 2 and run in $(VENV).
test-sa14: airflow2-env
	XCOMLAB_TEST_PG=postgresql+psycopg2://postgres@127.0.0.1:5432/test $(AIRFLOW2_PY) -m pytest \
	  -o addopts="-ra --strict-markers -p no:cacheprovider" \
	  tests/backend/test_store.py tests/backend/test_units.py tests/backend/test_fastpaths.py \
	  -k "not load_export and not ingest_recognises"

# Every test, slow ones included (-m "" overrides any -m a caller passes in PYTEST_ADDOPTS).
# XCOMLAB_REQUIRE_AIRFLOW=1: the Airflow integration tests fail instead of skipping.
test: install-dev airflow-env airflow2-env test-sa14
	XCOMLAB_REQUIRE_AIRFLOW=1 XCOMLAB_AIRFLOW_PYTHON=$(CURDIR)/$(AIRFLOW_PY) \
	  XCOMLAB_AIRFLOW2_PYTHON=$(CURDIR)/$(AIRFLOW2_PY) \
	  XCOMLAB_AIRFLOW_PYTHONS=$(CURDIR)/$(AIRFLOW_PY):$(CURDIR)/$(AIRFLOW2_PY) $(BIN)/python -m pytest -m ""

# The fast loop while working (~2 minutes): everything but the tests marked slow
# (notebooks, benchmarks, browser, Airflow integration, crash, concurrency, complexity, the
# heaviest real-server tests; see tests/conftest.py SLOW_PATHS). No Airflow venv needed.
check: install-dev
	$(BIN)/python -m pytest -m "not slow"

lint: install-dev
	$(BIN)/ruff check xcomlab tests benchmarks notebooks
	$(BIN)/mypy

bench: install-dev airflow-env airflow2-env
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.summary --rows 5000000
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.simulate
	$(BIN)/python -m benchmarks.backend --airflow-python $(CURDIR)/$(AIRFLOW_PY)
	$(BIN)/python -m benchmarks.import_cost --airflow-python $(CURDIR)/$(AIRFLOW_PY) \
	  --airflow-python $(CURDIR)/$(AIRFLOW2_PY)

# Re-measure the latency calibration (xcomlab/data/latency_calibration.csv, DEFAULT_PARAMS) and the
# sizes between its grid points (xcomlab/data/latency_interpolation.csv), and rewrite the held-out
# tables in docs/latency.md and benchmarks/README.md (~15 min on an idle 2-vCPU machine: 11 on
# 7 Dec 2026, + ~3 for the file stores' extra 8/64 MB repeats; ~40 under load; needs the loopback
# PostgreSQL and MariaDB; raises MariaDB's global max_allowed_packet for the run only).
calibrate: install-dev
	$(BIN)/python -m benchmarks.calibrate --docs

samples: install
	$(BIN)/python -m xcomlab.synth --samples data/samples

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) $(AIRFLOW2_VENV) build *.egg-info
