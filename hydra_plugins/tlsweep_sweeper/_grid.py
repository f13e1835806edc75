"""Grid search under ask/tell: every point exactly once, failed points retried.

Optuna's ``GridSampler`` is built for ``study.optimize``: its ``after_trial`` calls
``Study.stop()``, which raises outside ``optimize`` (so ask/tell crashes on the last point), it
counts a FAIL as visited, and when parallel asks run out of unvisited points it re-evaluates a
random one. So the driver picks the points here and enqueues each one before asking; the
sampler only serves fixed params and records the grid on the study.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from optuna.samplers import GridSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

_BUSY = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class AskTellGridSampler(GridSampler):
    """``GridSampler`` that leaves stopping to the caller (see the module docstring)."""

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Do nothing: the driver knows when the grid is done."""


def point_key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of a grid point, robust to dict order."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def next_point(
    points: list[dict[str, Any]], trials: list[FrozenTrial], retry_failed: int
) -> dict[str, Any] | None:
    """The first point neither done, running nor queued, nor out of retries.

    Args:
        points: the grid, as from ``SearchSpace.grid``.
        trials: every trial of the study.
        retry_failed: how many times a point that failed may run again.

    Returns:
        The params of the next point, or None when the grid is exhausted.
    """
    busy: set[tuple[tuple[str, str], ...]] = set()
    failed: Counter[tuple[tuple[str, str], ...]] = Counter()
    for t in trials:
        key = point_key(t.params or t.system_attrs.get("fixed_params", {}))
        if t.state in _BUSY:
            busy.add(key)
        elif t.state == TrialState.FAIL:
            failed[key] += 1
    for point in points:
        key = point_key(point)
        if key not in busy and failed[key] <= retry_failed:
            return point
    return None
