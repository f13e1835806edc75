"""Every on-disk name of a benchmark folder, in one place.

The sweeper writes a benchmark, each job writes its own folder, ``plan`` reads earlier trials and
``report`` reads it all back; they name files and folders only through this module, so the
writer and the readers cannot drift apart. A benchmark folder (``hydra.sweep.dir``)::

    benchmark.yaml            the commands and the cells they asked for (the report's spec)
    benchmark.csv             one row per cell x final seed (written by the report)
    multirun.yaml             the multirun's primary config
    <cell>/                   one cell, named <method>-<encoder>-<dataset>-<n>-s<seed>-<tuning>
                              [-<stage>]-<config hash>
      cell.yaml               the cell's identity: its configuration, hash and variant
      optuna_journal.log      the cell's study (default storage)
      optimization_results.yaml, trials.csv   the study's outputs
      <trial>/                one tuning trial's job folder: metrics.json, splits.csv, ...
      stage1/                 the source-side study of a two-stage cell (same layout)
      final/seed<k>/          the selected configuration rerun with final seed k, judged on test
      final/superseded/       final seeds of an earlier selection (kept, never reported)

It imports only the standard library: the sweeper driver loads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC_FILE = "benchmark.yaml"
CSV_FILE = "benchmark.csv"
MULTIRUN_FILE = "multirun.yaml"
CELL_FILE = "cell.yaml"
JOURNAL_FILE = "optuna_journal.log"
RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"
METRICS_FILE = "metrics.json"
SPLITS_FILE = "splits.csv"
PREDICTIONS_FILE = "predictions.csv"
JOB_LOG = "tlsweep.log"  # Hydra's log of a job, <hydra.job.name>.log, in every job folder
STAGE1_DIR = "stage1"
FINAL_DIR = "final"
SUPERSEDED_DIR = "superseded"
_SEED_PREFIX = "seed"


def write_record(job: Path, record: dict[str, Any]) -> None:
    """Write a job's ``metrics.json`` atomically (a reader never sees half of it).

    Undefined metrics (a constant predictor's correlation) are written as ``NaN``, which
    :func:`read_record` reads back as a float NaN.
    """
    tmp = job / f"{METRICS_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(job / METRICS_FILE)


def read_record(job: Path) -> dict[str, Any] | None:
    """A job's ``metrics.json``, or None when it is missing or unreadable."""
    try:
        return json.loads((job / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None


def final_dir(cell: Path, seed: int) -> Path:
    """The job folder of final seed ``seed`` of the cell in folder ``cell``."""
    return cell / FINAL_DIR / f"{_SEED_PREFIX}{seed}"


def final_subdir(cell_subdir: str, seed: int) -> str:
    """:func:`final_dir` relative to the sweep dir (a job's ``hydra.sweep.subdir``)."""
    return f"{cell_subdir}/{FINAL_DIR}/{_SEED_PREFIX}{seed}"


def final_seed_of(folder: Path) -> int | None:
    """The seed of a ``final/seed<k>`` folder, or None for any other folder."""
    name = folder.name
    if not name.startswith(_SEED_PREFIX) or not name[len(_SEED_PREFIX) :].isdigit():
        return None
    return int(name[len(_SEED_PREFIX) :])


def superseded_dir(cell: Path, seed: int, trial: int | None) -> Path:
    """Where a final seed of an earlier selection (trial ``trial``) is moved; never reused."""
    base = cell / FINAL_DIR / SUPERSEDED_DIR / f"{_SEED_PREFIX}{seed}-trial{trial}"
    candidate, n = base, 1
    while candidate.exists():  # superseded twice: keep both
        candidate, n = base.with_name(f"{base.name}.{n}"), n + 1
    return candidate


def stage1_dir(cell: Path) -> Path:
    """The source-side study's folder of a two-stage cell."""
    return cell / STAGE1_DIR
