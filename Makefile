# Champion–challenger pipeline. `make demo` runs the main job; `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# Python 3.12: python3.12 on PATH, else a pyenv 3.12 install.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)
STAMP := $(VENV)/.installed

.PHONY: help setup up down wipe demo test test-topology test-fast chaos lint format bench bench-serving bench-load bench-gate bench-cycle status logs lock clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install python3.12 or set PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install pinned dependencies (idempotent)

up: setup  ## start MLflow, Triton and Airflow on embedded defaults and wait for health
	$(BIN)/ccp stack up

down:  ## stop the local stack; keeps its state in .ccp/
	@test -x $(BIN)/ccp && $(BIN)/ccp stack down || echo "nothing installed, nothing to stop"

wipe: down  ## delete all local state (.ccp/): data, MLflow store, Triton models, Airflow DB
	$(BIN)/ccp stack wipe

demo: setup  ## start the stack, run 5 cycles through Airflow (drift from the 3rd), print status and URLs
	$(BIN)/ccp demo

status: setup  ## champion / challenger / Triton status
	$(BIN)/ccp status

logs:  ## tail the stack's logs
	tail -n 40 .ccp/services/*.log

test: setup  ## run the tests on two pytest-xdist workers (each starts its own MLflow and Triton); `make test-topology` and `make chaos` are separate
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not chaos and not celery"

test-topology: setup  ## the DAG under CeleryExecutor, Postgres and Redis: queues, approvals through the REST API, no secret in logs, the gpu worker SIGTERMed mid-training (a chaos fault)
	CCP_CHAOS_REPORT=$(or $(CHAOS_REPORT),benchmarks/results/chaos.json) $(BIN)/python -m pytest -m celery

chaos: setup  ## chaos suite: kill/stop Triton and MLflow mid-change, a full capture disk (the worker SIGTERM runs in test-topology); report in benchmarks/results/chaos.json
	CCP_CHAOS_REPORT=$(or $(CHAOS_REPORT),benchmarks/results/chaos.json) $(BIN)/python -m pytest tests/chaos -m chaos -s

test-fast: setup  ## unit and DAG-integrity tests only
	$(BIN)/python -m pytest -m "not integration and not e2e"

lint: setup  ## ruff (rules, formatting), the package's import layers (lint-imports), module/function size limits, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m tests.shape
	$(BIN)/mypy

format: setup  ## ruff: fix what can be fixed and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: bench-serving bench-load bench-gate bench-cycle  ## run every benchmark (figures go to benchmarks/results/ and BENCHMARKS.md)

bench-serving: setup  ## serving latency/throughput: Ludwig in-process, Triton, router+shadow, mlflow serve, per-row HTTP
	$(BIN)/python benchmarks/serving.py

bench-load: setup  ## Triton load until ready of a fresh exported version, and of a version added beside it
	$(BIN)/python benchmarks/triton_load.py

bench-cycle: setup  ## whole cycles through Airflow at 10k, 100k and 1M rows: per-task seconds and peak RSS (SIZES=10k,100k to limit)
	$(BIN)/python benchmarks/cycle.py --sizes $(or $(SIZES),10k,100k,1M)

bench-gate: setup  ## gate simulation: lifetime false promotions, power and time to a decision per promotion rule
	$(BIN)/python benchmarks/gate.py

lock:  ## re-resolve and rewrite constraints.txt (after changing dependencies)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
