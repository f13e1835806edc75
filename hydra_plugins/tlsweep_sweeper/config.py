"""Structured config of the tlsweep sweeper, registered as ``hydra/sweeper=tlsweep``.

The keys of hydra-optuna-sweeper's ``OptunaSweeperConf`` keep their names and meaning, so a
project switches by changing one line; the keys below the marked line are ours. Samplers and
pruners are config groups (``hydra/sweeper/sampler=tlsweep_gp``,
``hydra/sweeper/pruner=tlsweep_median``) so a choice replaces the whole node instead of merging
one sampler's arguments into another's. Each option is a dataclass with the constructor
arguments of its Optuna class, so ``hydra.sweeper.sampler.n_startup_trials=5`` works without
``+`` and a typo fails at compose time. TPE's and GP's ``n_startup_trials`` default to null,
"fitted to the study's budget" (:func:`tlsweep.benchmark.cells.fitted_startup`): Optuna's fixed
10 would make a study of 4 trials a random search without saying so; a value given always wins.
The options carry a ``tlsweep_`` prefix: ConfigStore is one namespace shared by every installed
plugin, and hydra-optuna-sweeper registers ``tpe``, ``random``, ``median``... in the same groups,
so equal names would replace each other's nodes.
"""

# No `from __future__ import annotations` here: Hydra's plugin scan runs this module without
# registering it in sys.modules, and dataclasses cannot resolve string annotations then.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import SI

PREFIX = "tlsweep_"
_SEED = "${hydra.sweeper.seed}"


@dataclass
class RandomSamplerConf:
    """``optuna.samplers.RandomSampler``; ``seed`` follows ``hydra.sweeper.seed``."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = SI(_SEED)


@dataclass
class TPESamplerConf(RandomSamplerConf):
    """``optuna.samplers.TPESampler``: multivariate with a constant liar (parallel asks spread)."""

    _target_: str = "optuna.samplers.TPESampler"
    # None: Optuna's own default (these four are deprecated as explicit arguments in Optuna 4)
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    # None: fitted to the study's n_trials (tlsweep.benchmark.cells.fitted_startup)
    n_startup_trials: int | None = None
    n_ei_candidates: int = 24
    multivariate: bool = True
    group: bool = False
    warn_independent_sampling: bool | None = None
    constant_liar: bool = True
    constraints_func: Any = None


@dataclass
class GridSamplerConf(RandomSamplerConf):
    """``optuna.samplers.GridSampler``; the sweeper builds the grid from the search space."""

    _target_: str = "optuna.samplers.GridSampler"


@dataclass
class GPSamplerConf(RandomSamplerConf):
    """``optuna.samplers.GPSampler`` (Gaussian-process Bayesian optimisation)."""

    _target_: str = "optuna.samplers.GPSampler"
    independent_sampler: Any = None
    n_startup_trials: int | None = None  # None: fitted to n_trials, as for TPE
    deterministic_objective: bool = False
    constraints_func: Any = None
    warn_independent_sampling: bool = True


@dataclass
class CmaEsSamplerConf(RandomSamplerConf):
    """``optuna.samplers.CmaEsSampler`` (needs the ``cmaes`` package)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    independent_sampler: Any = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False


@dataclass
class QMCSamplerConf(RandomSamplerConf):
    """``optuna.samplers.QMCSampler``, scrambled Sobol by default."""

    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = True
    independent_sampler: Any = None
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


@dataclass
class NSGAIISamplerConf(RandomSamplerConf):
    """``optuna.samplers.NSGAIISampler`` (several objectives)."""

    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    crossover: Any = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any = None


@dataclass
class NopPrunerConf:
    """``optuna.pruners.NopPruner``: never prune."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConf:
    """``optuna.pruners.MedianPruner``."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    """``optuna.pruners.SuccessiveHalvingPruner`` (one epoch is the smallest resource)."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = 1  # an int, or "auto"
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    """``optuna.pruners.HyperbandPruner``."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"  # an int, or "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "grid": GridSamplerConf,
    "gp": GPSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "qmc": QMCSamplerConf,
    "nsgaii": NSGAIISamplerConf,
}

PRUNERS: dict[str, type] = {
    "none": NopPrunerConf,
    "median": MedianPrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
}


@dataclass
class TlsweepSweeperConf:
    """Settings of :class:`~hydra_plugins.tlsweep_sweeper.tlsweep_sweeper.TlsweepSweeper`."""

    _target_: str = "hydra_plugins.tlsweep_sweeper.tlsweep_sweeper.TlsweepSweeper"
    # sampler and pruner are built by the driver (seeded per session, given the grid), not by
    # Hydra's recursive instantiate
    _recursive_: bool = False
    defaults: list[Any] = field(
        default_factory=lambda: ["_self_", {"sampler": f"{PREFIX}tpe"}, {"pruner": None}]
    )

    sampler: Any = None
    # a string for one objective, a list of strings for several
    direction: Any = "minimize"
    # null: a JournalStorage file in the sweep dir; or an RDB URL (sqlite:///x.db, postgresql://)
    storage: str | None = None
    # null: derived from the task name and overrides, so rerunning a command resumes its study
    study_name: str | None = None
    # trials that must end COMPLETE or PRUNED (capped at the grid size for a grid; fewer when
    # as many configurations failed, see max_failure_rate); 0: untuned, the defaults go straight
    # to the final seeds
    n_trials: int = 20
    # models per step: the batch size, or the number of trials kept in flight with async
    n_jobs: int = 1
    # the sweep stops once failed configurations exceed max_failure_rate * n_trials, as with
    # hydra-optuna-sweeper; a configuration counts once, when it failed for good (its retries,
    # retry_failed, failed too); a study stops asking once n_trials configurations failed, so
    # 1.0 tolerates every failure and never stops the sweep
    max_failure_rate: float = 0.0
    params: dict[str, str] | None = None
    # "module.function" called as fn(cfg, trial) after sampling; may suggest more params and
    # return a dict of extra overrides; the fixed params are in trial.user_attrs
    custom_search_space: str | None = None
    # hydra-optuna-sweeper's pre-1.2 key, kept only to say where it went (see _settings.py)
    search_space: dict[str, Any] = field(default_factory=dict)

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
    # local launchers on a GPU node: the n_jobs trials in flight take GPU slot // trials_per_gpu
    # (modulo the GPUs visible), so n_jobs = GPUs * trials_per_gpu packs small trials
    trials_per_gpu: int = 1


def _register() -> None:
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="tlsweep", node=TlsweepSweeperConf, provider="tlsweep")
    for name, node in SAMPLERS.items():
        store.store(
            group="hydra/sweeper/sampler", name=PREFIX + name, node=node, provider="tlsweep"
        )
    for name, node in PRUNERS.items():
        store.store(
            group="hydra/sweeper/pruner", name=PREFIX + name, node=node, provider="tlsweep"
        )


_register()
