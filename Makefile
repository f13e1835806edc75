# The README's two set-up commands are `make demo` and `make test`; both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-all lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install  ## train the default experiment on the synthetic cohort, log to ./mlflow.db
	$(BIN)/tlsweep
	@echo "Open the runs:  $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: install  ## the fast suite (a few minutes on 2 cores)
	$(BIN)/pytest $(PYTEST_ARGS)

test-slow: install  ## the slow tests (learning curves, submitit launcher)
	$(BIN)/pytest -m "slow and not slurm and not gpu" $(PYTEST_ARGS)

test-all: install
	$(BIN)/pytest -m "" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) outputs multirun mlflow.db mlruns .pytest_cache
