"""Write a realistic benchmark folder, in the layout the sweeper leaves (benchmark_layout.md).

Each tuned cell runs a real Optuna study in a JournalStorage file in its folder (one pruned and
one failed trial among them), and its ``optimization_results.yaml`` and ``trials.csv`` are
written by the sweeper's own writer. Final seeds get ``metrics.json`` files whose test values
are known in closed form (:func:`final_mae`), so tests can recompute every statistic by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hydra_plugins.tlsweep_sweeper._outputs import shell_command, write_outputs
from tlsweep.benchmark.provenance import run_provenance

SIZES = {"n25": 25, "n100": 100}
BASE = {"scratch": 12.0, "simclr": 10.0, "pretrain_freeze": 10.1}
SEED_EFFECT = [0.0, 0.8, -0.5, 0.3, -0.2]  # shared by all methods: what pairing removes
JITTER = {
    "scratch": [0.2, -0.1, 0.1, 0.0, -0.2],
    "simclr": [0.0, 0.1, -0.1, 0.05, -0.05],
    "pretrain_freeze": [0.3, -0.4, 0.5, -0.3, 0.2],
}
FIRST_SEED = 1000
UNTUNED_PENALTY = 1.5
BASELINE = 16.0  # the mean predictor's test MAE at n=25, before the seed's effect


def baseline_mae(n_train: int, k: int) -> float:
    """The mean predictor's test MAE on final seed ``FIRST_SEED + k``: the same for every method
    of a sample size (it depends only on the seed's training labels)."""
    return BASELINE - 0.2 * math.log(n_train / 25) + SEED_EFFECT[k]


def final_mae(method: str, n_train: int, k: int, untuned: bool = False) -> float:
    """The test MAE of final seed ``FIRST_SEED + k`` of a cell (a closed form)."""
    value = BASE[method] - math.log(n_train / 25) + SEED_EFFECT[k] + JITTER[method][k]
    return value + (UNTUNED_PENALTY if untuned else 0.0)


def cell_name(method: str, size: str, tuning: str = "tpe", encoder: str = "tiny3d") -> str:
    readable = f"{method}-{encoder}-synthetic_brain-{size}-s0-{tuning}"
    return f"{readable}-{cell_hash(readable)[:6]}"


def cell_hash(readable: str) -> str:
    """A stand-in for the cell's identity hash (one configuration per readable name here)."""
    return hashlib.sha256(readable.encode()).hexdigest()


def provenance(size: str, k: int) -> dict[str, Any]:
    """What a final seed records: this checkout's code, one cohort, the same test set for every
    method and seed (final.resample=false), a training set per sample size."""
    return run_provenance(
        config_hash=f"config-{size}-{k}",
        cohort="cohort0",
        splits={"train": f"train-{size}", "val": "val0", "test": "test0"},
        device="cpu",
        command=f"tlsweep seed={FIRST_SEED + k}",
    )


def make_benchmark(
    root: Path,
    methods: tuple[str, ...] = ("scratch", "simclr", "pretrain_freeze"),
    sizes: tuple[str, ...] = ("n25", "n100"),
    seeds: int = 3,
    n_trials: int = 12,
    untuned: tuple[str, ...] = (),
    tracking_uri: str | None = None,
    baseline: bool = True,
) -> Path:
    """Write a benchmark of ``methods`` × ``sizes`` (tuned with TPE, ``n_trials`` each), plus
    untuned twins of the ``untuned`` methods, with ``seeds`` final seeds per cell; with
    ``baseline``, each final seed also records the mean predictor's metrics (``baseline/...``)
    and the brain-age metrics (:func:`brain_age_metrics`).

    Returns:
        The benchmark folder (``root``).
    """
    root.mkdir(parents=True, exist_ok=True)
    cells = [(m, s, "tpe") for m in methods for s in sizes]
    cells += [(m, s, "untuned") for m in untuned for s in sizes]
    specs = [_cell(root, m, s, t, (seeds, n_trials, baseline), tracking_uri) for m, s, t in cells]
    spec = {
        "command": f"tlsweep -m method={','.join(methods)} sample_size={','.join(sizes)} hpo=tpe",
        "objective": "val/mae",
        "direction": "minimize",
        "final": {"seeds": seeds, "first_seed": FIRST_SEED, "resample": False},
        "cells": specs,
    }
    (root / "benchmark.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def _cell(
    root: Path, method: str, size: str, tuning: str, counts: tuple[int, int, bool], uri: str | None
) -> dict[str, Any]:
    seeds, n_trials, baseline = counts
    name = cell_name(method, size, tuning)
    folder = root / name
    folder.mkdir()
    n_trials = 0 if tuning == "untuned" else n_trials
    storage = str(folder / "optuna_journal.log")
    params: dict[str, Any] = {}
    if n_trials:
        study = _study(name, storage, method, SIZES[size], n_trials)
        write_outputs(study, folder, storage, lambda p: shell_command("tlsweep", _args(p)))
        params = study.best_params if study.best_trials else {}
        for trial in study.trials:
            _job(folder / str(trial.number), "trial", name, trial.number, trial.params, uri,
                 {"val/mae": trial.value} if trial.value is not None else {})  # fmt: skip
    for k in range(seeds):
        mae = final_mae(method, SIZES[size], k, tuning == "untuned")
        metrics = {"val/mae": mae - 0.5, "val/r2": 1 - (mae - 0.5) / 20}
        metrics |= {"test/mae": mae, "test/r2": 1 - mae / 20}
        if baseline:
            base = baseline_mae(SIZES[size], k)
            metrics |= {"baseline/val/mae": base - 0.5, "baseline/val/r2": 1 - (base - 0.5) / 20}
            metrics |= {"baseline/test/mae": base, "baseline/test/r2": 1 - base / 20}
            metrics |= brain_age_metrics(mae, k)
        _job(folder / "final" / f"seed{FIRST_SEED + k}", "final", name, FIRST_SEED + k, params,
             uri, metrics, wall_s=60.0 + 10 * k, provenance=provenance(size, k))  # fmt: skip
        if baseline:
            _predictions(folder / "final" / f"seed{FIRST_SEED + k}", mae, k)
    return {
        "name": name, "dir": name, "method": method, "encoder": "tiny3d",
        "dataset": "synthetic_brain", "sample_size": size, "n_train": SIZES[size], "seed": 0,
        "tuning": tuning, "stage": "target_only", "n_trials": n_trials, "stage1_trials": 0,
        "study_name": name, "storage": storage, "config_hash": cell_hash(name), "variant": "",
    }  # fmt: skip


def _predictions(job: Path, mae: float, k: int) -> None:
    """A final seed's ``predictions.csv``: 20 test subjects shrunk towards the mean age."""
    age = np.linspace(20.0, 40.0, 20)
    pred = 0.7 * age + 9.0 + np.random.default_rng(k).normal(0.0, mae / 5, 20)
    corrected = (pred - 9.0) / 0.7
    pd.DataFrame(
        {"participant_id": [f"sub-{i:02d}" for i in range(20)], "split": "test", "y_true": age,
         "y_pred": pred, "gap": pred - age, "y_pred_corrected": corrected,
         "gap_corrected": corrected - age}
    ).to_csv(job / "predictions.csv", index=False)  # fmt: skip


def brain_age_metrics(mae: float, k: int) -> dict[str, float]:
    """What a final seed of an age target records beside its MAE (tlsweep.train.brain_age)."""
    return {
        "test/gap_r": -0.6 + 0.01 * k, "test/gap_r_corrected": 0.02 * k,
        "test/mae_corrected": mae - 1.0, "test/mae_band_20": mae + 1.0,
        "test/mae_band_30": mae - 1.0, "bias/slope": 0.7, "bias/intercept": 15.0,
    }  # fmt: skip


def _study(name: str, storage: str, method: str, n_train: int, n_trials: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=optuna.storages.JournalStorage(JournalFileBackend(storage)),
        sampler=optuna.samplers.RandomSampler(seed=len(name)),
        direction="minimize",
    )

    for number in range(n_trials):  # ask/tell: one pruned and one failed trial, no tracebacks
        trial = study.ask()
        lr = trial.suggest_float("train.lr", 1e-4, 1e-1, log=True)
        wd = trial.suggest_float("train.weight_decay", 1e-6, 1e-2, log=True)
        if number in (2, 3):
            study.tell(trial, state=TrialState.PRUNED if number == 2 else TrialState.FAIL)
            continue
        study.tell(
            trial, BASE[method] - 0.5 - math.log(n_train / 25) + (math.log10(lr) + 2.5) ** 2 + wd
        )
    return study


def _args(params: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in params.items()]


def _job(
    folder: Path,
    role: str,
    cell: str,
    seed: int,
    params: dict[str, Any],
    uri: str | None,
    metrics: dict[str, float],
    wall_s: float = 5.0,
    provenance: dict[str, Any] | None = None,
) -> None:
    """A Hydra job dir: ``metrics.json`` and ``.hydra/config.yaml`` (with the tracking keys)."""
    (folder / ".hydra").mkdir(parents=True)
    record = {
        "role": role, "cell": cell, "seed": seed, "params": params, "metrics": metrics,
        "objective": "val/mae", "direction": "minimize", "best_epoch": 3, "wall_s": wall_s,
        "mlflow_run_id": None, "status": "ok", "trial": None,
        **({"provenance": provenance} if provenance else {}),
    }  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(record))
    tracking = {"enabled": uri is not None, "uri": uri or "sqlite:///mlflow.db"}
    config = {"seed": seed, "tracking": tracking | {"experiment": "tlsweep-report-test"}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
