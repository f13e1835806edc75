"""What a run and a cell *are*: the configuration that decides their results, and its hash.

Two rules, both failing safe (a key nobody listed counts):

- A run's **training config** is every run-level key except those in :data:`NOT_TRAINING`, which
  say where or how fast a run computes, or what a sweeper does around it, not what it computes:
  the ``hydra``, ``tracking``, ``hpo`` and ``final`` nodes and the output and cache folders;
  ``train.progress``, ``threads``, ``device`` (a requeued job may land on another node),
  ``checkpoint_every_epoch``, ``cudnn_benchmark``, ``channels_last`` and ``compile``;
  ``pretrain.cache`` and ``cache_dir`` (a cache hit and a miss train the same);
  ``dataset.cache_dir``; the method's search spaces; ``sample_size.name``. A checkpoint resumes
  only under the same training config (``tlsweep.train.checkpoint``).
- A benchmark **cell's identity** is its training config plus how it is tuned: the search space
  (the method's, ``hydra.sweeper.params`` and the command line's), the sampler and pruner, the
  objective's direction and ``hpo.stage``/``hpo.source_objective``/``hpo.budget`` (the last only
  when it is not ``additional``, the one meaning before the key existed, so those cells keep
  their names). The budget is not in it (``n_trials``, ``hpo.source_trials``,
  ``final.seeds``): more trials or seeds extend a cell; ``hpo.budget`` is, because it decides
  whether stage 1's trials come out of ``n_trials``.
  Keys added later whose default reproduces what runs computed before them
  (:data:`TRAINING_UNSET`: ``target_task.positive``, ``age_gap``, ``band_width``,
  ``split.held_out_sites``, ``dataset.site_column``) count only
  when set otherwise, so a new output renames no cell. The hash of the identity ends the cell's
  name, so two configurations never share a study, a folder, final seeds or a row, and the same
  command resumes its own cells.

It imports no torch (the sweeper driver and ``plan`` use it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: Per node ("" = top level): keys that do not change what a run computes (see the module doc).
NOT_TRAINING: dict[str, tuple[str, ...]] = {
    "": ("hydra", "tracking", "hpo", "final", "cache_dir", "output_dir"),
    "train": (
        "progress",
        "threads",
        "device",
        "checkpoint_every_epoch",
        "cudnn_benchmark",
        "channels_last",
        "compile",
    ),
    "pretrain": ("cache", "cache_dir"),
    "dataset": ("cache_dir",),
    "method": ("search_space", "pretrain_search_space"),
    "sample_size": ("name",),
}
# how a cell is tuned (hydra.sweeper.<key>; the rest of the sweeper's settings are budget,
# parallelism and storage); hpo.<key> likewise
TUNING_KEYS = (
    "direction",
    "sampler",
    "pruner",
    "params",
    "search_space_defaults",
    "custom_search_space",
    "grid_points",
)
HPO_KEYS = ("stage", "source_objective", "budget")
# hpo.<key> values that count as absent: the behaviour from before the key existed
HPO_UNSET = {"budget": "additional"}
#: Training-config keys added after results were recorded, with the value that reproduces what
#: runs computed before them: at that value a key counts as absent, so adding it renames no cell
#: and invalidates no checkpoint; any other value counts as usual.
TRAINING_UNSET: dict[str, Any] = {
    f"{task}.{key}": value
    for task in ("source_task", "target_task")
    for key, value in {
        "positive": None,
        "age_gap": None,
        "band_width": 10.0,
        "gap_group": None,
        "gap_positive": None,
    }.items()  # fmt: skip
} | {
    "split.held_out_sites": [],
    "dataset.site_column": "site",
    "dataset.site_effect": 1.0,
    "dataset.accelerated_fraction": 0.0,
    "dataset.accelerated_years": 10.0,
}
# overrides already shown as a cell's own columns (method, encoder, ..., tuning, stage)
AXIS_KEYS = ("method", "encoder", "dataset", "sample_size", "seed", "hpo", "hpo.stage")
HASH_SHOWN = 6  # hex digits of the identity hash in a cell's name
_SHOWN = 3  # differing keys named in a refusal


def training_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The flat ``{"train.lr": 0.001, …}`` config that decides what a run computes.

    Args:
        cfg: the run's config (a ``DictConfig`` or a plain mapping); only the nodes that count
            are resolved.

    Returns:
        Every key of ``cfg`` but those in :data:`NOT_TRAINING`, resolved, as JSON values.
    """
    flat: dict[str, Any] = {}
    for key in cfg:
        if key in NOT_TRAINING[""]:
            continue
        value = cfg[key]
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        if isinstance(value, Mapping):
            kept = {k: v for k, v in value.items() if k not in NOT_TRAINING.get(key, ())}
            flat.update(_flatten(kept, f"{key}."))
        else:
            flat[str(key)] = value
    return _json({k: v for k, v in flat.items() if not _absent(k, v)})


def _absent(key: str, value: Any) -> bool:
    return key in TRAINING_UNSET and value == TRAINING_UNSET[key]


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex) of a flat config (as :func:`training_config` gives it)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def cell_identity(config: DictConfig) -> dict[str, Any]:
    """A cell's identity (see the module doc), from its composed config with its hydra node.

    Args:
        config: the cell's config as the sweeper composes it (``hydra.overrides.task`` lists the
            command's overrides, search dimensions included).

    Returns:
        The flat identity (the training config, ``hpo.*``, ``hydra.sweeper.*`` tuning keys and
        ``search``, the command line's search dimensions, sorted).
    """
    flat = training_config(config)
    for key in HPO_KEYS:
        value = OmegaConf.select(config, f"hpo.{key}", default=None)
        if key not in HPO_UNSET or value not in (None, HPO_UNSET[key]):
            flat[f"hpo.{key}"] = value
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None)
    for key in TUNING_KEYS:
        value = sweeper.get(key) if sweeper is not None else None
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        flat[f"hydra.sweeper.{key}"] = value
    flat["search"] = sorted(o for o, swept in _task_overrides(config) if swept)
    return _json(flat)


def short_hash(identity: Mapping[str, Any]) -> str:
    """The identity hash as it ends a cell's name."""
    return config_hash(identity)[:HASH_SHOWN]


def variant(config: DictConfig) -> str:
    """The command-line settings that make this cell differ from its presets, readably.

    E.g. ``dataset.relatedness=1 train.epochs=50``: the command's fixed overrides that count for
    the identity and are not already a cell axis; ``""`` when there are none. The report keeps
    cells of different variants apart and pairs methods within one variant.
    """
    kept = []
    for override, swept in _task_overrides(config):
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if not swept and key not in AXIS_KEYS and _counts(key) and not _unset(key, value):
            kept.append(override)
    return " ".join(sorted(kept))


def differences(before: Mapping[str, Any], after: Mapping[str, Any], shown: int = _SHOWN) -> str:
    """``train.lr 0.001 -> 0.5; …`` for the keys that differ (at most ``shown``), or ``""``."""
    keys = sorted(
        k for k in before.keys() | after.keys() if before.get(k, _NONE) != after.get(k, _NONE)
    )
    listed = [f"{k} {_show(before, k)} -> {_show(after, k)}" for k in keys[:shown]]
    more = f"; and {len(keys) - shown} more" if len(keys) > shown else ""
    return "; ".join(listed) + more


def _counts(key: str) -> bool:
    """Whether an override of ``key`` can change a cell's identity."""
    if key.startswith("hydra.sweeper."):
        return key.split(".")[2] in TUNING_KEYS
    if key.startswith("hydra"):  # hydra.sweep.dir, hydra/launcher=..., hydra.sweeper.n_trials
        return False
    node, _, rest = key.partition(".")
    if not rest:
        return node not in NOT_TRAINING[""]
    if node == "hpo":
        return rest in HPO_KEYS
    return node not in NOT_TRAINING[""] and rest.split(".")[0] not in NOT_TRAINING.get(node, ())


def _unset(key: str, value: str) -> bool:
    """``hpo.budget=additional``, ``target_task.band_width=10``: a default that reproduces the
    behaviour from before its key existed, written out, changes no identity, so no variant."""
    node, _, rest = key.partition(".")
    if node == "hpo":
        return HPO_UNSET.get(rest) == value
    if key not in TRAINING_UNSET:
        return False
    unset = TRAINING_UNSET[key]
    return value in ("null", "None") if unset is None else _number(value) == unset


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _task_overrides(config: DictConfig) -> Iterable[tuple[str, bool]]:
    """``(override, is a sweep)`` for each of the command's overrides (task and hydra ones)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = []
    for kind in ("hydra", "task"):
        given += OmegaConf.select(config, f"hydra.overrides.{kind}", default=None) or []
    for override in OverridesParser.create().parse_overrides(list(given)):
        yield override.input_line or "", override.is_sweep_override()


def _json(flat: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(flat, sort_keys=True, default=str))


_NONE = object()


def _show(config: Mapping[str, Any], key: str) -> str:
    return json.dumps(config[key]) if key in config else "(unset)"


def _flatten(tree: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
