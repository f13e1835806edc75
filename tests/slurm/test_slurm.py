"""Sweeps through a real SLURM cluster: a plain sweep, a requeued trial, a cancelled trial.

Each test runs ``tlsweep -m hpo=random debug=smoke method=scratch`` with the repo's
``hydra/launcher=slurm`` preset on a fresh MLflow sqlite store, and checks the study, the MLflow
runs and what SLURM's accounting recorded. Run with ``make test-slurm`` (``-m slurm``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.slurm.conftest import (
    Sweep,
    job_states,
    load_trials,
    slurm,
    trial_runs,
    wait_until,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

EPOCH_LINE = re.compile(r"train epoch (\d+)/(\d+)")
RESUMED = re.compile(r"resumed from \S+last\.pt at epoch (\d+)")


# Long enough that a trial outlives SLURM's grace period after a requeue or cancel (KillWait,
# 5 s in scripts/slurm-local.sh: submitit ignores the SIGTERM, so the job trains on until the
# SIGKILL; a trial that finished in that time would be told COMPLETE, and a requeued one would
# start over). A smoke epoch takes 0.05-0.25 s depending on the machine: 100 epochs were within
# the grace period on a fast one, so the requeue and cancel tests flaked; 400 take 20 s or more.
EPOCHS = 400


def _epochs(log: str) -> list[int]:
    return [int(m.group(1)) for m in EPOCH_LINE.finditer(log)]


def test_sweep_through_the_slurm_preset_completes_every_trial(
    tmp_path: Path, slurm_cache: Path
) -> None:
    sweep = Sweep(
        tmp_path, slurm_cache, "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=3"
    ).start()
    assert sweep.wait() == 0, sweep.tail()

    (journal,) = sweep.studies()
    trials = load_trials(journal)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, sweep.tail()
    # the trials ran as SLURM jobs, not in the sweeper's process
    jobs = sweep.job_ids()
    assert len(jobs) == 3, jobs
    assert all(job_states(j) == ["COMPLETED"] for j in jobs), {j: job_states(j) for j in jobs}
    runs = trial_runs(sweep.db)
    assert sorted(int(r.data.tags["tlsweep.trial"]) for r in runs) == [0, 1, 2]
    assert all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
    by_trial = {int(r.data.tags["tlsweep.trial"]): r for r in runs}
    for t in trials:  # MLflow holds the value the study was told
        assert by_trial[t.number].data.metrics["val/mae"] == pytest.approx(t.value)


def test_requeued_trial_resumes_from_its_checkpoint_in_the_same_mlflow_run(
    tmp_path: Path, slurm_cache: Path
) -> None:
    epochs = EPOCHS
    sweep = Sweep(
        tmp_path,
        slurm_cache,
        "hydra.sweeper.n_trials=1",
        f"train.epochs={epochs}",
    ).start()

    def checkpointed() -> tuple[Path, int] | None:  # the trial has saved an epoch >= 2
        for log in sweep.trial_logs():
            done = _epochs(log.read_text())
            if done and done[-1] >= 2 and (log.parent / "last.pt").exists():
                return log, done[-1]
        return None

    log, before = wait_until(checkpointed, 600, "the trial's second epoch", sweep)
    (job,) = sweep.job_ids()
    slurm("scontrol", "requeue", job)
    assert sweep.wait() == 0, sweep.tail()

    assert "REQUEUED" in job_states(job), job_states(job)
    text = log.read_text()
    resumed = [int(m.group(1)) for m in RESUMED.finditer(text)]
    assert len(resumed) == 1 and before <= resumed[0] < epochs, (before, resumed, text[-3000:])
    after = _epochs(text[text.index("resumed from") :])
    # training went on from the checkpoint: epoch resumed+1 … epochs, none repeated from 1
    assert after == list(range(resumed[0] + 1, epochs + 1)), after
    (trial,) = load_trials(sweep.studies()[0])
    assert trial.state == TrialState.COMPLETE
    (run,) = trial_runs(sweep.db)  # one MLflow run across both attempts
    assert run.info.status == "FINISHED"
    from mlflow.tracking import MlflowClient

    history = MlflowClient(f"sqlite:///{sweep.db}").get_metric_history(
        run.info.run_id, "train/loss"
    )
    values: dict[int, set[float]] = {}
    for m in history:  # an epoch re-run after the kill may be logged twice, never differently
        values.setdefault(m.step, set()).add(m.value)
    assert sorted(values) == list(range(epochs)), sorted(values)
    assert all(len(v) == 1 for v in values.values()), values


def test_cancelled_trial_is_a_fail_and_the_sweep_goes_on(
    tmp_path: Path, slurm_cache: Path
) -> None:
    sweep = Sweep(
        tmp_path,
        slurm_cache,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.max_failure_rate=0.5",
        f"train.epochs={EPOCHS}",
    ).start()

    def training() -> str | None:  # a job whose trial has finished an epoch
        if not any(_epochs(log.read_text()) for log in sweep.trial_logs()):
            return None
        running = slurm("squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        return next((j for j in sweep.job_ids() if j in running), None)

    job = wait_until(training, 600, "a running trial", sweep)
    slurm("scancel", job)
    assert sweep.wait() == 0, sweep.tail()

    assert job_states(job) == ["CANCELLED"], job_states(job)
    trials = load_trials(sweep.studies()[0])
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1, [(t.number, t.state, t.user_attrs) for t in trials]
    assert job in failed[0].user_attrs.get("tlsweep:error", ""), failed[0].user_attrs
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3, [(t.number, t.state) for t in trials]
