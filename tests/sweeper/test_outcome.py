"""How a finished job reads to Optuna, in-process: values, NaNs, and jobs that died."""

from __future__ import annotations

import math

import pytest
from optuna.trial import TrialState

from hydra_plugins.tlsweep_sweeper._outcome import as_values, outcome


def test_a_cancelled_submitit_job_names_its_state_and_its_log() -> None:
    died = RuntimeError(
        "Job 18_0 (task: 0) with path /tmp/s/.submitit/18_0/18_0_0_result.pkl\n"
        "has not produced any output (state: CANCELLED by 0)"
    )
    out = outcome(died, 1)
    assert out.state == TrialState.FAIL
    assert "state CANCELLED" in out.error and "\n" not in out.error
    assert out.log == "/tmp/s/.submitit/18_0/18_0_0_log.err"


@pytest.mark.parametrize(
    ("value", "n", "expected"),
    [
        (1.5, 1, [1.5]),
        ((1, 2), 2, [1.0, 2.0]),
        (math.nan, 1, None),
        (1, 2, None),
        ("0.5", 1, [0.5]),  # float()-able, as hydra-optuna-sweeper accepts
        ("inf", 1, None),
        ("12", 2, None),  # a string is one value, not a sequence of characters
    ],
)
def test_as_values(value: object, n: int, expected: list[float] | None) -> None:
    assert as_values(value, n) == expected


def test_the_progress_line_calls_a_pareto_front_no_best_value() -> None:
    import io

    from hydra_plugins.tlsweep_sweeper._progress import Progress

    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    progress = Progress("nsgaii", 8, "value", stream)
    progress.update(3, 1, 0, "Pareto front: 2 trials")
    assert stream.getvalue().endswith(
        "[nsgaii] 3/8 done · 1 running · 0 failed · Pareto front: 2 trials"
    )
    assert "best" not in stream.getvalue()
