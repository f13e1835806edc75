"""``last.pt``: the training loop's state after its last finished epoch, tied to one config.

A checkpoint is written atomically after every epoch, so a preempted run (a SLURM requeue, a
retried trial) resumes where it stopped, bit-identically. It also records the *training config*
it was written under, and only a run with the same training config resumes it: rerunning in the
same folder with, say, another ``train.lr`` or ``encoder`` is refused in one line (it used to
resume silently with the old settings, or die on a state-dict mismatch).

The training config is :func:`tlsweep.benchmark.identity.training_config`: every run-level key
except those that say where or how fast a run computes; keys added later count, so the rule fails
safe, towards refusing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tlsweep.benchmark.identity import config_hash, differences, training_config
from tlsweep.errors import ConfigError

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


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
        """``train.lr 0.001 -> 0.5; …`` for the keys that differ."""
        if stored is None:
            return "it records none: written by an older tlsweep"
        return differences(json.loads(stored), self.config)


__all__ = ["CHECKPOINT_NAME", "Checkpoint", "config_hash", "training_config"]
