# HECKTOR container kit. `make demo` sets up and runs the whole job on the bundled examples;
# `make test` sets up and runs the test suite. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: setup test lint format demo clean help

help:
	@echo "make setup   create $(VENV) and install pinned dependencies"
	@echo "make demo    run the algorithm on ground_truth_examples, score it, print the metrics"
	@echo "make test    lint and run the test suite"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m algorithm demo --examples ground_truth_examples --out $(DEMO_OUT)

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .ruff_cache
