# The README's two set-up commands are `make demo` and `make test`; both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-slurm test-all lint format clean \
	table-learning-curve table-encoders table-tuning table-stages table-transfer \
	scaling throughput benchmark-cost

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

test-slurm: install  ## sweeps on a real SLURM cluster: scripts/slurm-local.sh up, export SLURM_CONF
	$(BIN)/pytest -m slurm tests/slurm $(PYTEST_ARGS)

test-all: install
	$(BIN)/pytest -m "" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# ---- thesis tables: `make table-learning-curve SIZE=small|full [ARGS="hydra/launcher=slurm ..."]`
# Each runs one benchmark (conf/experiment/bench_$(SIZE).yaml: equal-budget TPE per cell, final
# seeds judged on test) into multirun/<table>-$(SIZE), then writes reports/<table>-$(SIZE).*
SIZE ?= small
ARGS ?=
TLSWEEP_BENCH = $(BIN)/tlsweep -m +experiment=bench_$(SIZE) $(ARGS)
REPORT = $(BIN)/tlsweep report --out reports
METHODS_small = scratch,pretrain_freeze,simclr
METHODS_full = scratch,pretrain_freeze,simclr,vat
SIZES_small = n25,n100
SIZES_full = n25,n50,n100,n200,n400
ENCODERS_small = tiny3d,resnet10
ENCODERS_full = sfcn,resnet18,densenet121

table-learning-curve: install  ## methods x sample sizes
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) sample_size=$(SIZES_$(SIZE)) \
	  hydra.sweep.dir=multirun/learning_curve-$(SIZE)
	$(REPORT) multirun/learning_curve-$(SIZE) --name learning_curve-$(SIZE)

table-encoders: install  ## methods x encoders at one sample size
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) encoder=$(ENCODERS_$(SIZE)) sample_size=n100 \
	  hydra.sweep.dir=multirun/encoders-$(SIZE)
	$(REPORT) multirun/encoders-$(SIZE) --name encoders-$(SIZE) --cols encoder

table-tuning: install  ## tuned (TPE) vs untuned defaults, same cells and final seeds
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) sample_size=n25 hydra.sweep.dir=multirun/tuning-$(SIZE)
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) sample_size=n25 hpo=untuned \
	  hydra.sweeper.n_trials=0 hydra.sweep.dir=multirun/tuning-$(SIZE)
	$(REPORT) multirun/tuning-$(SIZE) --name tuning-$(SIZE) --cols tuning

table-stages: install  ## target-only vs source-then-target tuning of the pretraining methods
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) sample_size=n25 hydra.sweep.dir=multirun/stages-$(SIZE)
	$(TLSWEEP_BENCH) method=$(METHODS_$(SIZE)) sample_size=n25 hpo.stage=source_then_target \
	  hydra.sweep.dir=multirun/stages-$(SIZE)
	$(REPORT) multirun/stages-$(SIZE) --name stages-$(SIZE) --cols stage

clean:
	rm -rf $(VENV) outputs multirun mlflow.db mlruns .pytest_cache

# ---- measurements (benchmarks/, printing side-by-side tables; never timed tests) ----
BENCH_ARGS ?=

table-transfer: install  ## planted transfer recovered? reports/transfer_recovery.md (<= 30 min on 2 cores)
	$(BIN)/python benchmarks/transfer_recovery.py $(BENCH_ARGS)

scaling: install  ## the same 8-trial sweep with 1, 2, 4 workers: reports/scaling.{md,png}
	$(BIN)/python benchmarks/scaling.py $(BENCH_ARGS)

throughput: install  ## samples/s and data wait per encoder and switch: reports/throughput-<device>.md
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)

benchmark-cost: install  ## where the small learning-curve benchmark's wall time goes
	$(BIN)/python benchmarks/benchmark_cost.py $(BENCH_ARGS)
