"""How a finished job reads to Optuna, in-process: values, NaNs, and jobs that died."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hydra_plugins.tlsweep_sweeper._outcome import (
    ATTEMPT_ATTR,
    INTERRUPTED_ATTR,
    RETRY_OF_ATTR,
    as_values,
    final_failures,
    outcome,
)


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


def _study_of(history: list[tuple[str, int | None, bool]]) -> optuna.Study:
    """Trials of x in order: (state, the trial it retries or None, interrupted)."""
    study = optuna.create_study()
    for state, retry_of, interrupted in history:
        if retry_of is None:
            trial = study.ask({"x": FloatDistribution(0, 1)})
        else:
            params = study.trials[retry_of].params
            attrs = {RETRY_OF_ATTR: retry_of, ATTEMPT_ATTR: 1}
            study.enqueue_trial(params, user_attrs=attrs)
            if state == "WAITING":
                continue
            trial = study.ask({"x": FloatDistribution(0, 1)})
        if interrupted:
            trial.set_user_attr(INTERRUPTED_ATTR, True)
        if state == "FAIL":
            study.tell(trial, state=TrialState.FAIL)
        elif state == "COMPLETE":
            study.tell(trial, 1.0)
    return study


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([("FAIL", None, False)], [0]),  # no retry (retry_failed=0, or none left)
        ([("FAIL", None, False), ("WAITING", 0, False)], []),  # its retry is queued
        ([("FAIL", None, False), ("RUNNING", 0, False)], []),  # ... or running
        ([("FAIL", None, False), ("COMPLETE", 0, False)], []),  # the retry repaired it
        ([("FAIL", None, False), ("FAIL", 0, False)], [1]),  # one configuration, one failure
        ([("FAIL", None, True)], []),  # its sweeper died: not the configuration's fault
        ([("FAIL", None, False), ("COMPLETE", None, False), ("FAIL", None, False)], [0, 2]),
    ],
)
def test_final_failures_count_each_configuration_once(history: list, expected: list) -> None:
    trials = _study_of(history).trials
    assert [t.number for t in final_failures(trials, grid=False, retry_failed=1)] == expected


@pytest.mark.parametrize(
    ("n_fails", "retry_failed", "final"), [(1, 1, False), (2, 1, True), (1, 0, True)]
)
def test_a_grid_point_fails_for_good_after_its_retries(
    n_fails: int, retry_failed: int, final: bool
) -> None:
    study = optuna.create_study()
    for _ in range(n_fails):  # a grid enqueues its point before each attempt
        study.enqueue_trial({"x": 0.5})
        study.tell(study.ask({"x": FloatDistribution(0, 1)}), state=TrialState.FAIL)
    found = final_failures(study.trials, grid=True, retry_failed=retry_failed)
    assert [t.number for t in found] == ([n_fails - 1] if final else [])
