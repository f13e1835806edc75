# The README's two set-up commands are `make demo` and `make test`; both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-slurm test-all lint format docs clean \
	table-learning-curve table-encoders table-tuning table-stages table-transfer table-detection \
	scaling throughput benchmark-cost reports

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the docs extra too: the slow tests build the documentation site
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,docs]"
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

# -E: read every page afresh, so a warning is reported on every build, not only the first
docs: install  ## the documentation site, nitpicky, warnings as errors: docs/_build/html/index.html
	$(BIN)/sphinx-build -E -W --keep-going -n -b html docs docs/_build/html

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

table-detection: install  ## brain age as a marker: a planted accelerated-ageing group, n=400
	$(TLSWEEP_BENCH) method=scratch,pretrain_freeze sample_size=n400 hpo=untuned \
	  hydra.sweeper.n_trials=0 final.seeds=3 dataset.n_subjects=1000 \
	  dataset.accelerated_fraction=0.2 split.source_fraction=0.3 \
	  hydra.sweep.dir=multirun/detection-$(SIZE)
	$(REPORT) multirun/detection-$(SIZE) --name detection-$(SIZE)

clean:
	rm -rf $(VENV) outputs multirun mlflow.db mlruns .pytest_cache \
	  docs/_build docs/api/generated docs/results/reports

# ---- measurements (benchmarks/, printing side-by-side tables; never timed tests) ----
BENCH_ARGS ?=

table-transfer: install  ## planted transfer recovered? reports/transfer_recovery.md (about 20 min on 2 cores)
	$(BIN)/python benchmarks/transfer_recovery.py $(BENCH_ARGS)

scaling: install  ## the same 8-trial sweep with 1, 2, 4 workers: reports/scaling.{md,png}
	$(BIN)/python benchmarks/scaling.py $(BENCH_ARGS)

throughput: install  ## samples/s and data wait per encoder and switch: reports/throughput-<device>.md
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)

benchmark-cost: install  ## where the small learning-curve benchmark's wall time goes
	$(BIN)/python benchmarks/benchmark_cost.py $(BENCH_ARGS)

# Every committed report, regenerated by the current code (each ends with its provenance footer;
# tests/benchmark/test_reports.py fails on a stale one). Results first, then the timings, which
# want a quiet machine; benchmark_cost runs the small learning-curve benchmark again, from an
# empty cache (`tlsweep report` rewrites a folder's benchmark.csv, so a folder reported on again
# no longer dates its sweep's end). About 40 minutes on 2 CPU cores.
reports: install  ## regenerate every report in reports/ (SIZE=small)
	$(MAKE) table-learning-curve table-tuning table-stages table-transfer table-detection SIZE=$(SIZE)
	rm -rf multirun/benchmark_cost-small
	TLSWEEP_CACHE=$$(mktemp -d) $(BIN)/python benchmarks/benchmark_cost.py --run
	$(BIN)/python benchmarks/packing.py
	$(BIN)/python benchmarks/packing.py --epochs 6 --out reports/packing-epochs6.md
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/throughput.py --device cpu --resolutions 4mm --steps 10 --warmup 2 \
	  --budget-s 400 --out reports/throughput-cpu.md
