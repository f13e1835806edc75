"""Asynchronous refill and a real parallel launcher (submitit_local, ~8 s per test)."""

from __future__ import annotations

from pathlib import Path

import pytest

X0 = "x0=interval(-2,2)"


def _waits(started: Path, waits: dict[int, int]) -> tuple[str, ...]:
    """Overrides: each trial ``t`` in ``waits`` runs until trial ``waits[t]`` has started.

    Trials order themselves on each other's start files rather than on sleeps, so a slow
    machine cannot reorder them; a trial whose file never comes gives up after 30 s, and the
    test's assertions then fail.
    """
    pairs = ",".join(f"{t}:'{started / str(other)}'" for t, other in waits.items())
    return (f"started_dir={started}", f"wait_for={{{pairs}}}", "wait_seconds=30")


@pytest.mark.slow  # starts processes: the slow tier
def test_async_refills_a_slot_while_a_long_trial_runs(sweep, tmp_path: Path) -> None:
    s = sweep()
    s.ok(
        "hpo=random",
        X0,
        "hydra/launcher=submitit_local",
        "hydra.sweeper.schedule=async",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=5",
        # with two slots, trial 3 starts only once 1 and 2 have ended and been told to the
        # study, so both lie inside trial 0; a sweep that does not refill never starts 3
        *_waits(tmp_path / "started", {0: 3}),
    )
    trials = s.study().trials
    assert _states(s.study()) == ["COMPLETE"] * 5
    long = trials[0]
    inside = [
        t
        for t in trials[1:]
        if long.datetime_start < t.datetime_start and t.datetime_complete < long.datetime_complete
    ]
    assert len(inside) >= 2  # batches would have held the second slot behind trial 0


@pytest.mark.slow
def test_submitit_local_batches_with_pruning(sweep) -> None:
    s = sweep("fake_trainer.py")
    s.ok(
        "hpo=random",
        "lr=tag(log,interval(1e-4,1))",
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_jobs=3",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/pruner=tlsweep_median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "epoch_seconds=0.05",
    )
    trials = s.study().trials
    assert len(trials) == 6
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert all(t.intermediate_values for t in trials)  # reported from the submitit jobs


def test_async_with_basic_launcher_falls_back_to_batches(sweep) -> None:
    s = sweep()
    proc = s.ok(
        "hpo=random",
        X0,
        "hydra.sweeper.schedule=async",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=3",
    )
    assert "so this sweep runs in batches" in proc.stdout + proc.stderr
    assert _states(s.study()) == ["COMPLETE"] * 3


def _states(study) -> list[str]:  # noqa: ANN001
    return [t.state.name for t in study.trials]


@pytest.mark.slow  # starts processes: the slow tier
def test_jobs_in_flight_hold_distinct_slots_that_pick_their_gpu(sweep, tmp_path) -> None:
    s = sweep()
    s.ok(
        "hpo=random",
        X0,
        "hydra/launcher=submitit_local",
        "hydra.sweeper.schedule=async",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.trials_per_gpu=2",
        "hydra.sweeper.n_trials=5",
        f"slot_dir={tmp_path / 'slots'}",
        # 1 starts after 0 and 0 ends after 3: 1, 2 and 3 all run while 0 holds its slot
        *_waits(tmp_path / "started", {0: 3, 1: 0}),
    )
    import json

    runs = [json.loads(p.read_text()) for p in sorted((tmp_path / "slots").glob("*.json"))]
    assert len(runs) == 5 and {r["slot"] for r in runs} == {0, 1}
    overlapping = [
        (a, b)
        for a in runs
        for b in runs
        if a is not b and a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert len(overlapping) >= 6, runs  # 0 beside 1, 2 and 3, both ways: the check bites
    for a, b in overlapping:
        assert a["slot"] != b["slot"]  # two jobs in flight never share a slot
    assert {r["gpu_of_4"] for r in runs} == {0}  # trials_per_gpu=2: slots 0 and 1 share GPU 0
