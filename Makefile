# trustdata: two commands first. `make demo` runs the demo trust end to end on the embedded
# PostgreSQL; `make test` passes the tests. Both install uv (with pip) when it is missing and
# sync the locked environment into .venv first, compiled to bytecode as pip would: where
# PYTHONDONTWRITEBYTECODE is set (it is on CI), an uncompiled environment recompiles every
# module it imports in every process (measured: importing Great Expectations, 11.6 s -> 5.7 s).

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test lint typecheck check airflow-ui airflow-celery airflow sandbox api sync check-config clean help

help:
	@echo "make demo        run the demo trust: sandbox MIS -> Airflow -> warehouse -> read API"
	@echo "make test        run the test suite (real PostgreSQL, Airflow and HTTP on loopback)"
	@echo "make lint        ruff check and ruff format --check"
	@echo "make typecheck   mypy --strict on src/ and services/"
	@echo "make airflow-ui  Airflow (standalone) on the demo setup, UI on http://localhost:8080"
	@echo "make airflow-celery  the same on the CeleryExecutor (Redis on loopback; see infra/README.md)"
	@echo "make airflow ARGS='dags list'   any airflow command on the demo setup"
	@echo "make sandbox     the sandbox MIS alone on http://127.0.0.1:8765/v1.0"
	@echo "make clean       stop nothing, delete .data/ (embedded PostgreSQL, Airflow home)"

$(BIN)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --compile-bytecode
	@touch $@

sync: $(BIN)/.synced

demo: sync
	$(BIN)/trustdata demo $(ARGS)

test: sync
	$(BIN)/pytest $(ARGS)

lint: sync
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: sync
	$(BIN)/mypy src services

check: lint typecheck test

check-config: sync
	$(BIN)/trustdata check-config

airflow-ui: sync
	TRUSTDATA_SANDBOX_TOKEN=$${TRUSTDATA_SANDBOX_TOKEN:-sandbox-demo-token} $(BIN)/trustdata airflow standalone

airflow-celery: sync
	TRUSTDATA_SANDBOX_TOKEN=$${TRUSTDATA_SANDBOX_TOKEN:-sandbox-demo-token} $(BIN)/python infra/celery/run_local.py

airflow: sync
	$(BIN)/trustdata airflow $(ARGS)

sandbox: sync
	$(BIN)/python -m sandbox_mis $(ARGS)

clean:
	rm -rf .data transforms/target transforms/logs
