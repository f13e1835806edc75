"""Cells: one study per combination of config-group choices swept on the command line.

``tlsweep -m hpo=tpe method=scratch,simclr sample_size=n25,n100`` is four comparisons, not one
study with ``method`` as a hyperparameter: each cell (here method × sample size) gets its own
study with the same ``n_trials`` budget, its own search space (the cell's method declares it) and
its own sweep folder. Comma lists over anything that is not a config group (``seed=0,1``,
``train.lr=1e-3,1e-4``) stay search dimensions, as in hydra-optuna-sweeper.
"""

from __future__ import annotations

import itertools
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
