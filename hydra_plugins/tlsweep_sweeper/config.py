"""Structured config of the tlsweep sweeper, registered as ``hydra/sweeper=tlsweep``.

The keys of hydra-optuna-sweeper's ``OptunaSweeperConf`` keep their names and meaning, so a
project switches by changing one line; the keys below the marked line are ours. Samplers and
pruners are config groups (``hydra/sweeper/sampler=gp``, ``hydra/sweeper/pruner=median``) so a
choice replaces the whole node instead of merging one sampler's arguments into another's.
"""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module without
# registering it in sys.modules, and dataclasses cannot resolve string annotations then;
# typing.Optional/Dict/List also keep OmegaConf's type checks working.
from dataclasses import dataclass, field
from typing import Any  # noqa: UP035

from hydra.core.config_store import ConfigStore

_SEED = "${hydra.sweeper.seed}"

SAMPLERS: dict[str, dict[str, Any]] = {
    "tpe": {
        "_target_": "optuna.samplers.TPESampler",
        "multivariate": True,
        "constant_liar": True,
        "seed": _SEED,
    },
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": _SEED},
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": _SEED},
    "gp": {"_target_": "optuna.samplers.GPSampler", "seed": _SEED},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": _SEED},
    "qmc": {"_target_": "optuna.samplers.QMCSampler", "scramble": True, "seed": _SEED},
    "nsgaii": {"_target_": "optuna.samplers.NSGAIISampler", "seed": _SEED},
}

PRUNERS: dict[str, dict[str, Any]] = {
    "none": {"_target_": "optuna.pruners.NopPruner"},
    "median": {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
    },
    "successive_halving": {
        "_target_": "optuna.pruners.SuccessiveHalvingPruner",
        "min_resource": 1,
        "reduction_factor": 3,
    },
    "hyperband": {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 1,
        "reduction_factor": 3,
    },
}


@dataclass
class TlsweepSweeperConf:
    """Settings of :class:`~hydra_plugins.tlsweep_sweeper.tlsweep_sweeper.TlsweepSweeper`."""

    _target_: str = "hydra_plugins.tlsweep_sweeper.tlsweep_sweeper.TlsweepSweeper"
    # sampler and pruner are built by the driver (seeded per session, given the grid), not by
    # Hydra's recursive instantiate
    _recursive_: bool = False
    defaults: list[Any] = field(
        default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": None}]
    )

    sampler: Any = None
    # a string for one objective, a list of strings for several
    direction: Any = "minimize"
    # null: a JournalStorage file in the sweep dir; or an RDB URL (sqlite:///x.db, postgresql://)
    storage: str | None = None
    # null: derived from the task name and overrides, so rerunning a command resumes its study
    study_name: str | None = None
    # trials that must end COMPLETE or PRUNED (capped at the grid size for a grid); 0: untuned,
    # the defaults go straight to the final seeds
    n_trials: int = 20
    # models per step: the batch size, or the number of trials kept in flight with async
    n_jobs: int = 1
    # the sweep stops once failed trials exceed max_failure_rate * n_trials
    max_failure_rate: float = 0.0
    params: dict[str, str] | None = None
    # "module.function" called as fn(cfg, trial) after sampling; may suggest more params and
    # return a dict of extra overrides
    custom_search_space: str | None = None

    # ---- beyond hydra-optuna-sweeper ----
    # batch: ask n_jobs trials, launch them together, wait for all; async: refill a slot the
    # moment its trial ends (needs a launcher whose launch() may run in threads, e.g. submitit)
    schedule: str = "batch"
    pruner: Any = None
    # a FAIL trial (raised, non-finite result, died, interrupted) is re-run with the same
    # params up to this many times
    retry_failed: int = 1
    # lowest-priority params (a method's declared search space); params and the command line
    # override them
    search_space_defaults: dict[str, str] | None = None
    seed: int | None = None
    # values per continuous interval() in a grid; discrete params contribute all their values
    grid_points: int = 5
    # true: a comma list over a config group (method=a,b) makes cells, one study each with the
    # same budget; false: hydra-optuna-sweeper's meaning, one categorical dimension of one study
    cells: bool = True


def _register() -> None:
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="tlsweep", node=TlsweepSweeperConf, provider="tlsweep")
    for name, node in SAMPLERS.items():
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="tlsweep")
    for name, node in PRUNERS.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="tlsweep")


_register()
