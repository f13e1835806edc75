"""What a sweep leaves in its sweep dir: ``optimization_results.yaml`` and ``trials.csv``.

The yaml keeps hydra-optuna-sweeper's keys (``name``, ``best_params``, ``best_value``; for
several objectives ``solutions``, the Pareto front) and adds the best trial's number, a
ready-to-run command line and the study's name and storage, so it can be reopened.
"""

from __future__ import annotations

import csv
import math
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"
LOG_ATTR = "tlsweep:log"


def write_outputs(
    study: Study,
    sweep_dir: Path,
    storage: str,
    command: Callable[[dict[str, Any]], str],
) -> None:
    """Write both files from the study's current state.

    Args:
        study: the study.
        sweep_dir: where to write.
        storage: the storage string, recorded so the study can be reopened.
        command: params -> a shell command line that runs that trial alone.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "name": "tlsweep",
        "study_name": study.study_name,
        "storage": storage,
        "directions": [d.name.lower() for d in study.directions],
        "n_complete": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
    }
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete and len(study.directions) == 1:
        best = study.best_trial
        results.update(
            best_trial=best.number,
            best_params=best.params,
            best_value=best.value,
            best_command=command(best.params),
        )
    elif complete:
        results["solutions"] = [
            {
                "trial": t.number,
                "params": t.params,
                "values": t.values,
                "command": command(t.params),
            }
            for t in study.best_trials
        ]
    OmegaConf.save(OmegaConf.create(results), sweep_dir / RESULTS_FILE)
    _write_trials_csv(study.get_trials(deepcopy=False), len(study.directions), sweep_dir)


def shell_command(program: str, overrides: list[str]) -> str:
    """Join a program and its overrides into one shell-safe line."""
    return " ".join([program, *(shlex.quote(o) for o in overrides)])


def _write_trials_csv(trials: list[FrozenTrial], n_objectives: int, sweep_dir: Path) -> None:
    names = sorted({k for t in trials for k in t.params})
    value_cols = ["value"] if n_objectives == 1 else [f"value_{i}" for i in range(n_objectives)]
    header = ["number", "state", *value_cols, "duration_s", "datetime_start"]
    header += [f"params_{n}" for n in names] + ["log"]
    with open(sweep_dir / TRIALS_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for t in trials:
            values = t.values or [t.value] * bool(t.value is not None)
            values = list(values) + [None] * (len(value_cols) - len(values))
            duration = t.duration.total_seconds() if t.duration is not None else None
            start = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None
            row = [t.number, t.state.name, *values, _num(duration), start]
            row += [t.params.get(n) for n in names] + [t.user_attrs.get(LOG_ATTR)]
            writer.writerow(row)


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 3)
