"""What a finished job means to Optuna: COMPLETE with values, PRUNED, or FAIL with a reason.

A job's task function returns a float (a list or tuple of floats for several objectives);
as with hydra-optuna-sweeper, anything ``float()`` reads is accepted, a numeric string such as
``"0.5"`` included. Anything else, a NaN or an infinity is a FAIL. Hydra's ``run_job`` catches
what the task raises and returns it in a FAILED ``JobReturn``: an ``optuna.TrialPruned`` there
means the trial asked to be pruned. A job that died (the launcher raised instead of returning)
is a FAIL too. :func:`final_failures` says which failures count against ``max_failure_rate``:
a configuration that failed for good, once, however many attempts it had.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from optuna import TrialPruned
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.tlsweep_sweeper._grid import point_key

# trial user attrs: left RUNNING by a dead sweeper; the trial it retries; its attempt (0: first)
INTERRUPTED_ATTR = "tlsweep:interrupted"
RETRY_OF_ATTR, ATTEMPT_ATTR = "tlsweep:retry_of", "tlsweep:attempt"


@dataclass(frozen=True)
class Outcome:
    """How to tell one trial.

    Attributes:
        state: COMPLETE, PRUNED or FAIL.
        values: the objective values when COMPLETE.
        error: one line saying why, when FAIL.
        log: the job's log file, when the job got far enough to have one.
    """

    state: TrialState
    values: list[float] | None = None
    error: str | None = None
    log: str | None = None


def outcome(result: JobReturn | BaseException, n_objectives: int) -> Outcome:
    """Interpret a job's result (see the module docstring)."""
    if isinstance(result, BaseException):
        return Outcome(TrialState.FAIL, error=_death(result), log=_job_log(str(result)))
    log = _log_path(result)
    if result.status == JobStatus.COMPLETED:
        values = as_values(result._return_value, n_objectives)
        if values is None:
            want = "a finite float" if n_objectives == 1 else f"{n_objectives} finite floats"
            error = f"returned {result._return_value!r}, not {want}"
            return Outcome(TrialState.FAIL, error=error, log=log)
        return Outcome(TrialState.COMPLETE, values=values, log=log)
    if isinstance(result._return_value, TrialPruned):
        return Outcome(TrialState.PRUNED, log=log)
    return Outcome(TrialState.FAIL, error=_first_line(result._return_value), log=log)


def final_failures(
    trials: Sequence[FrozenTrial], grid: bool, retry_failed: int
) -> list[FrozenTrial]:
    """The last attempt of each configuration that failed for good, in trial order.

    A configuration is a trial and its retries (for a grid: one grid point). It failed for good
    when its last attempt failed and it will not run again: outside a grid a retry is enqueued
    the moment a trial fails (so a configuration with one to come ends in a WAITING trial); a
    grid re-offers a point until it has failed more than ``retry_failed`` times. A retry that
    succeeds leaves no failure, and one that fails again is still one failed configuration. A
    trial failed because its sweeper died (interrupted) is no failure of its configuration.

    Args:
        trials: every trial of the study, in number order.
        grid: whether the study runs a grid (see :mod:`._grid`).
        retry_failed: the sweeper's ``retry_failed``.
    """
    last: dict[Any, FrozenTrial] = {}
    fails: dict[Any, int] = {}
    for t in trials:
        if grid:
            key: Any = point_key(t.params or t.system_attrs.get("fixed_params", {}))
        else:
            key = t.user_attrs.get(RETRY_OF_ATTR, t.number)
        last[key] = t
        fails[key] = fails.get(key, 0) + (t.state == TrialState.FAIL)
    return sorted(
        (
            t
            for key, t in last.items()
            if t.state == TrialState.FAIL
            and not t.user_attrs.get(INTERRUPTED_ATTR)
            and (not grid or fails[key] > retry_failed)
        ),
        key=lambda t: t.number,
    )


def as_values(value: Any, n_objectives: int) -> list[float] | None:
    """The objective values of a return value, or None when it is not ``n`` finite floats.

    A string is one value (``"0.5"`` reads as 0.5), never a sequence of characters.
    """
    text = str | bytes
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, text) else [value]
    if hasattr(value, "__len__") and not isinstance(value, Sequence | text) and n_objectives > 1:
        items = list(value)  # e.g. an omegaconf ListConfig or a numpy array
    if len(items) != n_objectives:
        return None
    try:
        floats = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    return floats if all(math.isfinite(f) for f in floats) else None


def _log_path(result: JobReturn) -> str | None:
    try:
        hydra = result.hydra_cfg.hydra  # type: ignore[union-attr]
        return str(Path(hydra.runtime.output_dir) / f"{hydra.job.name}.log")
    except Exception:  # a JobReturn from a launcher that fills in less
        return None


def _death(error: BaseException) -> str:
    """Why a job died, in one line; with the scheduler's state (e.g. CANCELLED) when it says."""
    state = re.search(r"state:? ?([A-Z_]+)", str(error))
    why = f"job died: {_first_line(error)}"
    return f"{why} (state {state.group(1)})" if state and state.group(1) not in why else why


def _job_log(message: str) -> str | None:
    """The job's stderr file named in submitit's error (or next to its result file)."""
    found = re.search(r"(/\S+_log\.err)", message)
    if found:
        return found.group(1)
    result = re.search(r"(/\S+)_result\.pkl", message)
    return f"{result.group(1)}_log.err" if result else None


def _first_line(error: Any) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
