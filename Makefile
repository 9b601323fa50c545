# eksguard developer commands. `make test` and `make demo` set up a fresh machine by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0

.PHONY: help install install-sam lint typecheck template-lint unit build check-layer test e2e bench demo clean

help:
	@echo "make test    - create the venv, install pinned dev deps, ruff, mypy, cfn-lint, pytest, sam build"
	@echo "make demo    - run eksguard locally against moto and a Slack stand-in"
	@echo "make build   - sam build (layer wheels for python3.13 x86_64) and check the artefact"
	@echo "make bench   - run the benchmarks and print the figures"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

install: $(VENV)/.installed

install-sam: $(SAM_VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check layers functions tests scripts

typecheck: install
	$(VENV)/bin/mypy layers/eksguard/eksguard functions scripts tests

template-lint: install
	$(VENV)/bin/cfn-lint template.yaml

unit: install
	$(PY) -m pytest tests/unit tests/integration

build: install-sam install
	$(SAM) build --template-file template.yaml
	$(PY) scripts/check_layer.py .aws-sam/build/EksguardLayer

test: lint typecheck template-lint build
	$(PY) -m pytest tests

bench: install
	$(PY) scripts/bench_stop.py --sizes 500 2000

demo: install
	$(PY) scripts/demo.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
