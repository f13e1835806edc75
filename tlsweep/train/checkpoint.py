"""``last.pt``: the training loop's state after its last finished epoch, tied to one config.

A checkpoint is written atomically after every epoch, so a preempted run (a SLURM requeue, a
retried trial) resumes where it stopped, bit-identically. It also records the *training config*
it was written under, and only a run with the same training config resumes it: rerunning in the
same folder with, say, another ``train.lr`` or ``encoder`` is refused in one line (it used to
resume silently with the old settings, or die on a state-dict mismatch).

The training config is every run-level key except those in :data:`NOT_TRAINING`, which say where
or how fast a run computes, or what a sweeper does around it, not what it computes: the
``hydra``, ``tracking``, ``hpo`` and ``final`` nodes and the output and cache folders;
``train.progress``, ``threads``, ``device`` (a requeued job may land on another node; the
checkpoint loads on any device), ``checkpoint_every_epoch``, ``cudnn_benchmark``,
``channels_last`` and ``compile``; ``pretrain.cache`` and ``cache_dir`` (a cache hit and a miss
train the same); ``dataset.cache_dir``; the method's search spaces; ``sample_size.name``.
Everything else is in, including keys added later: the list fails safe, towards refusing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tlsweep.errors import ConfigError

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
# Per node ("" = top level): keys that do not change what a run computes (see the module doc).
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
_SHOWN = 3  # differing keys named in the refusal


def training_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The flat ``{"train.lr": 0.001, …}`` config a checkpoint must agree with to be resumed.

    Args:
        cfg: the run's config (a ``DictConfig`` or a plain mapping); only the nodes that count
            are resolved.

    Returns:
        Every key of ``cfg`` but those in :data:`NOT_TRAINING`, resolved, as JSON values.
    """
    from omegaconf import OmegaConf

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
    return json.loads(json.dumps(flat, sort_keys=True, default=str))


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of a training config (as :func:`training_config` gives it)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


class Checkpoint:
    """The loop's checkpoint file, written under and resumable by one training config.

    Args:
        path: the file (``<run dir>/last.pt``).
        config: the training config of this run (:func:`training_config`); a direct caller of
            the loop without a run config may pass ``{}``.
    """

    def __init__(self, path: Path, config: Mapping[str, Any]) -> None:
        self.path = path
        self.config = dict(config)
        self.hash = config_hash(self.config)

    def load(self) -> dict[str, Any] | None:
        """The saved loop state, or None when there is no checkpoint.

        Raises:
            ConfigError: the file cannot be read, or was written under another training config;
                the message says how to start fresh.
        """
        if not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"{self.path}: cannot be read ({first}); {self._fresh}") from None
        if payload.get("config_hash") != self.hash:
            raise ConfigError(
                f"{self.path} was written by a run with another training config "
                f"({self._differences(payload.get('config'))}), so this run will not resume it; "
                f"{self._fresh}"
            )
        return payload

    def verify(self) -> None:
        """Refuse now, before any work, a checkpoint this run could not resume."""
        self.load()

    def save(self, state: Mapping[str, Any]) -> None:
        """Write ``state`` with this run's config, atomically: a kill mid-write keeps the old."""
        payload = {**state, "config": json.dumps(self.config), "config_hash": self.hash}
        tmp = self.path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(self.path)

    @property
    def _fresh(self) -> str:
        return f"to start fresh, delete {self.path} or use a new hydra.run.dir"

    def _differences(self, stored: str | None) -> str:
        """``train.lr 0.001 -> 0.5; …`` for the keys that differ (at most :data:`_SHOWN`)."""
        if stored is None:
            return "it records none: written by an older tlsweep"
        before = json.loads(stored)
        keys = sorted(
            k
            for k in before.keys() | self.config.keys()
            if before.get(k, _NONE) != self.config.get(k, _NONE)
        )
        shown = [f"{k} {_show(before, k)} -> {_show(self.config, k)}" for k in keys[:_SHOWN]]
        more = f"; and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
        return "; ".join(shown) + more


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
