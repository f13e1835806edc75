"""The sweeper's small pure helpers, in-process: outcome rules, grid order, scheduling, settings.

The subprocess sweeps in ``test_sweep.py`` show these work together; here each rule is shown
alone, with real ``JobReturn``s, real Optuna trials and real threads.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import TrialState, create_trial

from hydra_plugins.tlsweep_sweeper import _grid, _schedule
from hydra_plugins.tlsweep_sweeper._impl import _check_unique, _slug
from hydra_plugins.tlsweep_sweeper._outcome import outcome
from hydra_plugins.tlsweep_sweeper._settings import (
    SweeperConfigError,
    check_settings,
    sampler_label,
)
from hydra_plugins.tlsweep_sweeper._space import param_lines


def _job(status: JobStatus, value: Any) -> JobReturn:
    return JobReturn(status=status, _return_value=value)


# ---- _outcome: what a finished job means ----


@pytest.mark.parametrize(
    ("status", "value", "n", "state"),
    [
        (JobStatus.COMPLETED, 0.25, 1, TrialState.COMPLETE),
        (JobStatus.COMPLETED, "0.25", 1, TrialState.COMPLETE),
        (JobStatus.COMPLETED, [1, 2], 2, TrialState.COMPLETE),
        (JobStatus.COMPLETED, float("inf"), 1, TrialState.FAIL),
        (JobStatus.COMPLETED, None, 1, TrialState.FAIL),
        (JobStatus.COMPLETED, [1.0], 2, TrialState.FAIL),
        (JobStatus.FAILED, optuna.TrialPruned(), 1, TrialState.PRUNED),
        (JobStatus.FAILED, ValueError("bad lr\nsecond line"), 1, TrialState.FAIL),
    ],
)
def test_outcome_rules(status: JobStatus, value: Any, n: int, state: TrialState) -> None:
    out = outcome(_job(status, value), n)
    assert out.state == state
    assert (out.values is not None) == (state == TrialState.COMPLETE)
    if state == TrialState.FAIL:
        assert out.error and "\n" not in out.error


def test_a_raised_error_is_one_line_with_its_type() -> None:
    out = outcome(_job(JobStatus.FAILED, ValueError("bad lr\nsecond line")), 1)
    assert out.error == "ValueError: bad lr"


def test_a_non_float_return_says_what_it_got() -> None:
    assert outcome(_job(JobStatus.COMPLETED, "fast"), 1).error == (
        "returned 'fast', not a finite float"
    )


# ---- _grid: every point once, failed points retried ----


def _trial(params: dict[str, Any], state: TrialState) -> optuna.trial.FrozenTrial:
    dists = {k: optuna.distributions.CategoricalDistribution([0, 1, 2]) for k in params}
    value = 0.0 if state == TrialState.COMPLETE else None
    return create_trial(params=params, distributions=dists, state=state, value=value)


POINTS = [{"a": 0}, {"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("history", "retry_failed", "expected"),
    [
        ([], 1, {"a": 0}),
        ([({"a": 0}, TrialState.COMPLETE)], 1, {"a": 1}),
        ([({"a": 0}, TrialState.RUNNING), ({"a": 1}, TrialState.PRUNED)], 1, {"a": 2}),
        ([({"a": 0}, TrialState.FAIL)], 1, {"a": 0}),  # retried
        ([({"a": 0}, TrialState.FAIL)], 0, {"a": 1}),  # out of retries
        ([({"a": 0}, TrialState.FAIL)] * 2, 1, {"a": 1}),
        ([({"a": i}, TrialState.COMPLETE) for i in range(3)], 1, None),
    ],
)
def test_next_grid_point(history: list, retry_failed: int, expected: dict | None) -> None:
    trials = [_trial(p, s) for p, s in history]
    assert _grid.next_point(POINTS, trials, retry_failed) == expected


def test_grid_point_identity_ignores_dict_order() -> None:
    assert _grid.point_key({"a": 1, "b": "x"}) == _grid.point_key({"b": "x", "a": 1})
    assert _grid.point_key({"a": 1}) != _grid.point_key({"a": "1"})


# ---- _schedule: batches and the asynchronous pool ----


def _items(n_total: int) -> Any:
    left = list(range(n_total))

    def next_batch(k: int) -> list[int]:
        batch, left[:] = left[:k], left[k:]
        return batch

    return next_batch


def test_batches_launch_n_jobs_together_and_settle_in_order() -> None:
    launched: list[list[int]] = []
    settled: list[tuple[int, int]] = []

    def launch(batch: list[int]) -> list[int]:
        launched.append(list(batch))
        return [10 * i for i in batch]

    _schedule.run_batches(_items(5), launch, lambda i, r: settled.append((i, r)), n_jobs=2)
    assert launched == [[0, 1], [2, 3], [4]]
    assert settled == [(i, 10 * i) for i in range(5)]


def test_async_refills_a_slot_as_soon_as_its_item_ends() -> None:
    main = threading.current_thread()
    order: list[int] = []
    last_settled = threading.Event()

    def launch(batch: list[int]) -> list[int]:
        (item,) = batch
        if item == 0:  # the slow item: ends only once 3 has passed (or, broken, after 10 s)
            last_settled.wait(timeout=10)
        return [item]

    def settle(item: int, result: Any) -> None:
        assert threading.current_thread() is main  # Optuna calls stay on the main thread
        order.append(result)
        if result == 3:
            last_settled.set()

    _schedule.run_async(_items(4), launch, settle, n_jobs=2)
    # the slow item 0 holds one slot while 1, 2 and 3 pass through the other
    assert order == [1, 2, 3, 0]


def test_async_hands_a_launch_error_to_settle() -> None:
    results: list[Any] = []

    def launch(batch: list[int]) -> list[int]:
        raise RuntimeError(f"job {batch[0]} died")

    _schedule.run_async(_items(2), launch, lambda i, r: results.append(r), n_jobs=2)
    assert sorted(str(r) for r in results) == ["job 0 died", "job 1 died"]


def test_only_known_launchers_are_thread_safe() -> None:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    assert not _schedule.launcher_is_thread_safe(BasicLauncher())
    submitit = pytest.importorskip("hydra_plugins.hydra_submitit_launcher.submitit_launcher")
    assert _schedule.launcher_is_thread_safe(submitit.LocalLauncher())


# ---- _settings and _impl ----


def _settings(**changes: Any) -> Any:
    base = {
        "schedule": "batch",
        "n_trials": 4,
        "n_jobs": 1,
        "max_failure_rate": 0.0,
        "retry_failed": 1,
        "direction": "minimize",
        "search_space": {},
    }
    return OmegaConf.create({**base, **changes})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"schedule": "eager"}, "schedule='eager'; options: batch, async"),
        ({"n_trials": -1}, "n_trials=-1"),
        ({"n_jobs": 0}, "n_jobs=0"),
        ({"max_failure_rate": 1.5}, "max_failure_rate=1.5"),
        ({"retry_failed": -1}, "retry_failed=-1"),
        ({"direction": ["minimize", "max"]}, "direction='max'; options: minimize, maximize"),
    ],
)
def test_bad_settings_are_named(changes: dict, named: str) -> None:
    with pytest.raises(SweeperConfigError, match=named.replace("(", r"\(")):
        check_settings(_settings(**changes))
    check_settings(_settings())


def test_param_lines_keep_strings_and_format_values() -> None:
    assert param_lines({"a": "interval(0, 1)", "b": 3, "c": None}) == [
        "a=interval(0, 1)",
        "b=3",
        "c=null",
    ]
    assert param_lines(None) == []


def test_sampler_labels() -> None:
    assert sampler_label(optuna.samplers.TPESampler()) == "tpe"
    assert sampler_label(optuna.samplers.RandomSampler()) == "random"
    assert sampler_label(_grid.AskTellGridSampler({"a": [0, 1]})) == "grid"


def test_cell_folders_of_other_apps_and_clashing_names() -> None:
    assert _slug(["db=mysql", "model=big"]) == "mysql-big"
    assert _slug([]) is None
    _check_unique(["a", "b", None, None])
    with pytest.raises(SweeperConfigError, match="share a name and folder: a"):
        _check_unique(["a", "b", "a"])
