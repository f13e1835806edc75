"""The live progress line of a sweep: one rewritten line on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

log = logging.getLogger(__name__)


def study_label(study: Any, objective: str) -> str | None:
    """What a study has found so far, for the progress line; None before its first COMPLETE.

    One objective: ``best val/mae=4.21 (trial 5)``. Several have no best value, only a Pareto
    front of non-dominated trials: ``Pareto front: 3 trials``.

    Args:
        study: an ``optuna.Study``.
        objective: what the value is called (``val/mae``).
    """
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    if len(study.directions) > 1:
        n = len(study.best_trials)
        return f"Pareto front: {n} trial{'s' * (n != 1)}"
    best = study.best_trial
    return f"best {objective}={best.value:.4g} (trial {best.number})"


class Progress:
    """Shows ``[tpe] 7/20 done · 3 running · 1 failed · best val/mae=4.21 (trial 5)``.

    Args:
        label: the sampler's short name.
        n_trials: the number of trials the sweep must complete.
        objective: what the value is called in the line.
        stream: where a terminal line goes; when it is not a TTY, a log line is written each
            time the done or failed count changes instead.
    """

    def __init__(self, label: str, n_trials: int, objective: str, stream: TextIO | None = None):
        self.label, self.n_trials, self.objective = label, n_trials, objective
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last: tuple[int, int, str | None] | None = None

    def update(
        self, done: int, running: int, failed: int, best: str | None, extra: str | None = None
    ) -> None:
        """Redraw (or log) the line; ``best`` is from :func:`study_label`."""
        line = f"[{self.label}] {done}/{self.n_trials} done · {running} running · {failed} failed"
        if best is not None:
            line += f" · {best}"
        if extra is not None:
            line += f" · {extra}"
        if self.live:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        elif self._last != (done, failed, extra):
            log.info(line)
        self._last = (done, failed, extra)

    def close(self) -> None:
        """End the live line so the next output starts on its own line."""
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
