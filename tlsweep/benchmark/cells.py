"""Cells: one study per combination of config-group choices swept on the command line.

``tlsweep -m hpo=tpe method=scratch,simclr sample_size=n25,n100`` is four comparisons, not one
study with ``method`` as a hyperparameter: each cell (here method × sample size) gets its own
study with the same ``n_trials`` budget, its own search space (the cell's method declares it) and
its own sweep folder. Comma lists over anything that is not a config group (``seed=0,1``,
``train.lr=1e-3,1e-4``) stay search dimensions, as in hydra-optuna-sweeper.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Override
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from tlsweep.benchmark.identity import cell_identity, short_hash
from tlsweep.errors import ConfigError


def split_cells(arguments: list[str], config_loader: Any) -> tuple[list[list[str]], list[str]]:
    """Separate the cell axes from the other overrides.

    Args:
        arguments: the sweep's command-line overrides.
        config_loader: Hydra's config loader (to tell config groups from keys).

    Returns:
        The cells (each a list of ``group=option`` overrides; empty when nothing is swept over a
        config group) and the remaining overrides, in their original form.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    axes, rest = [], []
    for override in parser.parse_overrides(arguments):
        if _is_group_sweep(override, config_loader):
            key = override.get_key_element()
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            rest.append(override.input_line or "")
    return [list(cell) for cell in itertools.product(*axes)] if axes else [], rest


def _is_group_sweep(override: Override, config_loader: Any) -> bool:
    group = override.key_or_group
    return (
        override.is_sweep_override()
        and isinstance(override.value(), ChoiceSweep)
        and not group.startswith("hydra")
        and bool(config_loader.get_group_options(group))
    )


def cell_config(
    master: DictConfig, config_loader: Any, rest: list[str], cell: list[str]
) -> DictConfig:
    """The primary config as composed for one cell, with the cell's sweeper settings.

    The cell's ``hydra.overrides.task`` lists the other overrides and the cell, so the default
    study name and folder are stable across reruns and differ between cells.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    fixed = [o.input_line for o in parser.parse_overrides(rest) if not o.is_sweep_override()]
    config = config_loader.load_sweep_config(master, [*fixed, *cell])
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.task = [*rest, *cell]
    return config


def sweeper_settings(config: DictConfig) -> dict[str, Any]:
    """The sweeper's constructor arguments as Hydra would pass them, resolved for ``config``."""
    node = config.hydra.sweeper
    return {
        key: OmegaConf.to_container(node[key], resolve=True)
        if OmegaConf.is_config(node[key])
        else node[key]
        for key in node
        if not str(key).startswith("_")
    }


CELL_GROUPS = ("method", "encoder", "dataset")
#: The values of ``hpo.stage``: what a cell tunes, and in how many studies.
STAGES = ("target_only", "joint", "source_then_target")


def cell_axes(config: DictConfig) -> dict[str, Any] | None:
    """What makes ``config``'s cell, or None outside tlsweep (no method/encoder/dataset groups).

    Returns:
        ``method``, ``encoder``, ``dataset``, ``sample_size``, ``seed``, ``tuning`` (the ``hpo``
        preset, or ``untuned`` when the cell runs no trials) and ``stage`` (``hpo.stage``).
    """
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None)
    if choices is None or any(not choices.get(g) for g in CELL_GROUPS):
        return None
    size = OmegaConf.select(config, "sample_size.name", default=None) or choices.get("sample_size")
    untuned = OmegaConf.select(config, "hydra.sweeper.n_trials", default=1) == 0
    return {
        **{g: str(choices[g]) for g in CELL_GROUPS},
        "sample_size": str(size),
        "seed": int(OmegaConf.select(config, "seed", default=0)),
        "tuning": "untuned" if untuned else str(choices.get("hpo") or "none"),
        "stage": stage(config),
    }


def cell_name(config: DictConfig) -> str | None:
    """The name of the cell ``config`` belongs to, or None outside tlsweep.

    ``<method>-<encoder>-<dataset>-<sample size>-s<seed>-<tuning>[-<stage>]-<identity hash>``,
    e.g. ``simclr-sfcn-synthetic_brain-n25-s0-tpe-3fa2c1``: the name of the cell's study, its
    folder, its MLflow parent run and its rows in the benchmark tables; the stage is added
    unless it is ``target_only``. The readable part says what the cell compares; the hash of its
    identity (:func:`tlsweep.benchmark.identity.cell_identity`) keeps two configurations with
    the same readable part apart (``train.epochs=5`` and ``=50``), and is the same on a rerun.
    """
    axes = cell_axes(config)
    if axes is None:
        return None
    parts = [axes[g] for g in (*CELL_GROUPS, "sample_size")] + [f"s{axes['seed']}", axes["tuning"]]
    parts += [axes["stage"]] if axes["stage"] != "target_only" else []
    return "-".join([*parts, short_hash(cell_identity(config))])


def stage(config: DictConfig) -> str:
    """The cell's ``hpo.stage`` (``target_only`` outside tlsweep)."""
    return str(OmegaConf.select(config, "hpo.stage", default="target_only"))


# what each hpo.budget means, in the words plan and the report print
BUDGET_MEANING = {
    "additional": "stage 1 of source_then_target runs hpo.source_trials on top of "
    "hydra.sweeper.n_trials (null: as many again), so such a cell tunes with more trials in all "
    "than a target_only one",
    "shared": "hydra.sweeper.n_trials is each cell's total: stage 1 of source_then_target takes "
    "hpo.source_trials of it (null: half) and stage 2 the rest, so every cell tunes with the "
    "same number of trials",
}


@dataclass(frozen=True)
class StageBudget:
    """The trials of a cell's studies: stage 1 (source side; 0 without one) and the target study.

    Attributes:
        stage1: trials of the source-side study of ``hpo.stage=source_then_target``.
        stage2: trials of the target study (every cell has one).
        budget: ``hpo.budget`` (``additional`` or ``shared``).
    """

    stage1: int
    stage2: int
    budget: str = "additional"

    @property
    def total(self) -> int:
        """Trials of both stages, the number a cell's tuning is compared at."""
        return self.stage1 + self.stage2


def stage_budget(config: DictConfig) -> StageBudget:
    """How many trials each of a cell's studies gets (the sweeper and ``plan`` both ask here).

    A cell has a stage 1 only for ``hpo.stage=source_then_target`` with a method that declares
    a ``pretrain_search_space``. Its trials are ``hpo.source_trials``, or by default
    ``n_trials`` (``hpo.budget=additional``) or ``n_trials // 2`` (``shared``). With
    ``additional`` they come on top of ``hydra.sweeper.n_trials``, which the target study gets
    whole; with ``shared``, ``n_trials`` is the cell's total and the target study gets the rest,
    so a ``target_only`` and a ``source_then_target`` cell compare at the same total.
    ``n_trials=0`` (untuned) runs no stage-2 trial either way (and, shared, no stage-1 one).

    Raises:
        ConfigError: ``hpo.budget=shared`` with a split that leaves a stage with no trial.
    """
    n_trials = int(OmegaConf.select(config, "hydra.sweeper.n_trials", default=0) or 0)
    budget = str(OmegaConf.select(config, "hpo.budget", default="additional"))
    pretrain = OmegaConf.select(config, "method.pretrain_search_space", default=None)
    if stage(config) != "source_then_target" or not pretrain:
        return StageBudget(0, n_trials, budget)
    source_trials = OmegaConf.select(config, "hpo.source_trials", default=None)
    if budget != "shared":  # the schema's enum admits only these two
        stage1 = n_trials if source_trials is None else int(source_trials)
        return StageBudget(stage1, n_trials, budget)
    if n_trials == 0:  # untuned: nothing to share
        return StageBudget(0, 0, budget)
    stage1 = n_trials // 2 if source_trials is None else int(source_trials)
    if stage1 < 1 or n_trials - stage1 < 1:
        shown = f"{stage1} (null: n_trials // 2)" if source_trials is None else stage1
        raise ConfigError(
            f"hpo.budget=shared: hydra.sweeper.n_trials={n_trials} split as hpo.source_trials="
            f"{shown} + {n_trials - stage1} target trials leaves a stage with no trial; raise "
            "n_trials or set hpo.source_trials between 1 and n_trials - 1"
        )
    return StageBudget(stage1, n_trials - stage1, budget)


# the start-up of a model-based sampler whose n_startup_trials is null (hydra.sweeper.sampler):
# half the study's trials, at least STARTUP_MIN and at most Optuna's own default
STARTUP_MIN, STARTUP_MAX = 2, 10


def fitted_startup(n_trials: int) -> int:
    """Random start-up trials of a model-based sampler whose ``n_startup_trials`` is null.

    ``min(10, max(2, n_trials // 2))``: Optuna's default of 10 from 20 trials on, half the
    budget below (so 4 trials are 2 random and 2 model-guided), and never fewer than 2 points
    for a model to start from (a budget of 2 or 3 trials is then mostly or wholly random).
    """
    return min(STARTUP_MAX, max(STARTUP_MIN, n_trials // 2))


def startup_trials(sampler: Mapping[str, Any] | None, n_trials: int) -> int | None:
    """A study's random start-up trials before its sampler's model takes over.

    Args:
        sampler: the sampler's config node (``_target_`` and its arguments).
        n_trials: the study's budget.

    Returns:
        ``n_startup_trials`` as given, or fitted to ``n_trials`` when it is null; None for a
        sampler without a start-up phase (random, quasi-random, grid, evolutionary).
    """
    if not sampler or "n_startup_trials" not in sampler:
        return None
    given = sampler["n_startup_trials"]
    return fitted_startup(n_trials) if given is None else int(given)


def check_untuned(config: DictConfig) -> None:
    """``hpo=untuned`` means no trials: a preset that sets a budget after it must not hide that."""
    chosen = OmegaConf.select(config, "hydra.runtime.choices.hpo", default=None)
    n_trials = OmegaConf.select(config, "hydra.sweeper.n_trials", default=0)
    if chosen == "untuned" and n_trials:
        raise ConfigError(
            f"hpo=untuned runs no trials, but hydra.sweeper.n_trials={n_trials} (set by a preset "
            "loaded after it, e.g. +experiment=...); add hydra.sweeper.n_trials=0"
        )


def check_stage(config: DictConfig) -> None:
    """``hpo.stage`` is one of :data:`STAGES`."""
    mode = stage(config)
    if mode not in STAGES:
        options = ", ".join(STAGES)
        raise ConfigError(f"hpo.stage={mode} is not a valid option; options: {options}")
