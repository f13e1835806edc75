"""The trial side of a sweep: report a validation curve to the study and stop when told.

The tlsweep sweeper tells every trial job its study, storage and trial number
(:class:`~tlsweep.benchmark.jobs.JobInfo`, in the job's environment). From those a
job opens the same Optuna storage
(the sweep's journal file or RDB URL, which must be reachable from the job's machine), builds
the study's pruner from the config the sweeper stored on the study, and reports each epoch's
objective. When the pruner says stop, :meth:`TrialReporter.report` raises ``optuna.TrialPruned``;
the task function lets it escape, Hydra returns it in the job's ``JobReturn`` and the sweeper
tells the trial PRUNED with its last reported value. A :class:`TrialReporter` is the training
loop's pruning hook (:class:`tlsweep.train.loop.Pruner`). :func:`link_trial` records the job's
MLflow run and folder on its trial. Optuna loads only when a trial is swept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra_plugins.tlsweep_sweeper.storage import PRUNER_ATTR, open_storage
from tlsweep.benchmark.jobs import JobInfo

log = logging.getLogger(__name__)


class TrialReporter:
    """Reports intermediate values of one swept trial and raises when it should be pruned.

    Args:
        trial: a storage-backed ``optuna.trial.Trial`` of a single-objective study.
    """

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    @classmethod
    def from_job(cls, job: JobInfo) -> TrialReporter | None:
        """Open the trial the sweeper launched this job for.

        Returns:
            A reporter, or None for a job that is not a tuning trial (a plain run, a final
            rerun, a stage-1 source trial) or a trial of a multi-objective study, which Optuna
            cannot prune.
        """
        if job.role != "trial" or job.trial is None or not job.storage or not job.study:
            return None
        import optuna
        from hydra.utils import instantiate

        storage = open_storage(job.storage)
        study_id = storage.get_study_id_from_name(job.study)
        if len(storage.get_study_directions(study_id)) > 1:
            log.info("multi-objective study: intermediate values are not reported")
            return None
        pruner_cfg = storage.get_study_user_attrs(study_id).get(PRUNER_ATTR)
        pruner = instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner()
        study = optuna.load_study(
            study_name=job.study,
            storage=storage,
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(),
        )
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, job.trial)
        return cls(optuna.trial.Trial(study, trial_id))

    def report(self, step: int, value: float) -> None:
        """Record ``value`` at ``step`` (an epoch) and stop the trial if the pruner says so.

        Raises:
            optuna.TrialPruned: the pruner decided this trial should stop; let it escape the
                task function.
        """
        import optuna

        self.trial.report(float(value), int(step))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at step {step}")


def link_trial(job: JobInfo, run_id: str | None, job_dir: Path) -> None:
    """Record a swept job's MLflow run id and folder on its trial (optuna-dashboard shows them)."""
    if job.role not in ("trial", "source") or job.trial is None or not job.storage:
        return
    set_trial_attrs(job, {"mlflow_run_id": run_id, "job_dir": str(job_dir)})


def set_trial_attrs(job: JobInfo, attrs: Mapping[str, Any]) -> None:
    """Record ``attrs`` on the job's Optuna trial (e.g. its MLflow run id) while it runs."""
    storage = open_storage(str(job.storage))
    study_id = storage.get_study_id_from_name(str(job.study))
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(job.trial))
    if storage.get_trial(trial_id).state.is_finished():
        return  # e.g. a retry resuming in its predecessor's folder after that one was told
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
