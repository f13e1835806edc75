"""Pruning across processes: trial jobs report curves to the storage and stop when told."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from hydra_plugins.tlsweep_sweeper.storage import PRUNER_ATTR
from tlsweep.benchmark.jobs import JobInfo
from tlsweep.hpo.pruning import TrialReporter

LR = "lr=tag(log,interval(1e-4,1))"


@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband"])
def test_fake_trainer_is_pruned(sweep, pruner: str) -> None:
    s = sweep("fake_trainer.py")
    extra = ["hydra.sweeper.pruner.n_startup_trials=2"] if pruner == "median" else []
    s.ok(
        "hpo=random",
        LR,
        "hydra.sweeper.n_trials=10",
        f"hydra/sweeper/pruner=tlsweep_{pruner}",
        *extra,
    )
    trials = s.study().trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert pruned and complete and len(trials) == 10
    for t in complete:
        assert sorted(t.intermediate_values) == list(range(8))
    for t in pruned:
        last = max(t.intermediate_values)
        assert last < 7  # stopped before the last epoch
        assert t.value == t.intermediate_values[last]


def test_no_pruner_means_every_trial_completes(sweep) -> None:
    s = sweep("fake_trainer.py")
    s.ok("hpo=random", LR, "hydra.sweeper.n_trials=4")
    assert [t.state.name for t in s.study().trials] == ["COMPLETE"] * 4


@pytest.mark.parametrize("job", [JobInfo(), JobInfo(role="final", study="s", storage="x")])
def test_plain_runs_and_finals_get_no_reporter(job: JobInfo) -> None:
    assert TrialReporter.from_job(job) is None


def test_reporter_reports_and_raises_when_pruned(tmp_path) -> None:
    path = str(tmp_path / "journal.log")
    study = optuna.create_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
    study.set_user_attr(PRUNER_ATTR, {"_target_": "optuna.pruners.ThresholdPruner", "upper": 1.0})
    trial = study.ask()
    reporter = TrialReporter.from_job(JobInfo(role="trial", study="s", storage=path, trial=0))
    reporter.report(0, 0.5)
    with pytest.raises(optuna.TrialPruned):
        reporter.report(1, 2.0)
    assert study.trials[trial.number].intermediate_values == {0: 0.5, 1: 2.0}
