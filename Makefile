# One runner for xcomlab. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= data/samples/af3/airflow.db

.PHONY: demo test lint typecheck bench install install-dev samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/xcomlab profile $(SAMPLE)

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check xcomlab tests benchmarks
	$(BIN)/mypy

bench: install-dev
	$(BIN)/python -m benchmarks.ingest

samples: install
	$(BIN)/python -m xcomlab.synth --samples data/samples

clean:
	rm -rf $(VENV) build *.egg-info
