"""The trial side of pruning: report a validation curve to the study and stop when told.

The tlsweep sweeper gives every trial job ``trial.number``, ``trial.study_name`` and
``trial.storage`` (``++trial.*`` overrides). From those a job opens the same Optuna storage
(the sweep's journal file or RDB URL, which must be reachable from the job's machine), builds
the study's pruner from the config the sweeper stored on the study, and reports each epoch's
objective. When the pruner says stop, :meth:`TrialReporter.report` raises ``optuna.TrialPruned``;
the task function lets it escape, Hydra returns it in the job's ``JobReturn`` and the sweeper
tells the trial PRUNED with its last reported value. Optuna loads only when a trial is swept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hydra_plugins.tlsweep_sweeper._storage import PRUNER_ATTR, open_storage

log = logging.getLogger(__name__)


class TrialReporter:
    """Reports intermediate values of one swept trial and raises when it should be pruned.

    Args:
        trial: a storage-backed ``optuna.trial.Trial`` of a single-objective study.
    """

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    @classmethod
    def from_config(cls, trial_cfg: Mapping[str, Any] | None) -> TrialReporter | None:
        """Open the trial named by the job's ``trial`` config node.

        Args:
            trial_cfg: the ``trial`` node (``number``, ``study_name``, ``storage``), or None.

        Returns:
            A reporter, or None for a plain run (no trial info) or a multi-objective study,
            which Optuna cannot prune.
        """
        if not trial_cfg or trial_cfg.get("number") is None or not trial_cfg.get("storage"):
            return None
        import optuna
        from hydra.utils import instantiate

        storage = open_storage(str(trial_cfg["storage"]))
        name = str(trial_cfg["study_name"])
        study_id = storage.get_study_id_from_name(name)
        if len(storage.get_study_directions(study_id)) > 1:
            log.info("multi-objective study: intermediate values are not reported")
            return None
        pruner_cfg = storage.get_study_user_attrs(study_id).get(PRUNER_ATTR)
        pruner = instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner()
        study = optuna.load_study(
            study_name=name,
            storage=storage,
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(),
        )
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            study_id, int(trial_cfg["number"])
        )
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
