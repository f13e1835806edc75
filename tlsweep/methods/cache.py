"""A disk cache of pretrained encoders, so HPO trials that differ only in fine-tuning share one.

An entry is keyed by a hash of everything that determines the pretraining (see
:func:`tlsweep.methods.assemble.pretrain_spec`), including a digest of the code it runs
(:mod:`.code_digest`), and stored as two files in the cache folder::

    <key>.pt     the encoder's state dict (torch.save)
    <key>.json   metadata: the key, its spec (with the code digest), the modules hashed into
                 that digest, the pretraining's MLflow run id, its source-task metrics (if any),
                 and the sha256 of <key>.pt

Both are written to a temporary file and renamed into place (``os.replace`` is atomic), weights
first, so the metadata only exists for complete weights. On reading, the weights' sha256 must match
the metadata before ``torch.load(weights_only=True)`` sees them, and the loaded keys must be the
encoder's; an entry that fails any check (a process killed mid-write, a truncated copy) is
rebuilt, never loaded. A :class:`filelock.FileLock` per key makes concurrent trials that need the
same encoder pretrain it once: the first builds, the others wait and then read it. On NFS-like
shared file systems without working ``fcntl`` locks, use a folder where they work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

log = logging.getLogger(__name__)
State = dict[str, torch.Tensor]


def cache_key(spec: Mapping[str, Any]) -> str:
    """A short, stable hash of a JSON-serialisable spec (key order does not matter)."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Entry:
    """A cached encoder: its weights and metadata (``run_id``, ``spec``, …)."""

    state: State
    meta: dict[str, Any]


class EncoderCache:
    """Pretrained encoder weights on disk, built at most once per key across processes.

    Args:
        root: the cache folder (created if missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        """The weights, metadata and lock files of ``key``."""
        return (self.root / f"{key}.pt", self.root / f"{key}.json", self.root / f"{key}.lock")

    def get_or_build(
        self,
        key: str,
        build: Callable[[], tuple[State, dict[str, Any]]],
        expected_keys: set[str],
    ) -> tuple[Entry, bool]:
        """Return the entry of ``key``, building and storing it first if needed.

        Args:
            key: the entry's key (:func:`cache_key` of its spec).
            build: ``() -> (state, meta)``; called only on a miss, under the key's lock.
            expected_keys: the state-dict keys a valid entry must have.

        Returns:
            The entry, and True for a hit (False when this call built it).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.paths(key)[2]))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("pretrained encoder %s is being built by another process; waiting", key)
            lock.acquire()
        try:
            entry = self.load(key, expected_keys)
            if entry is not None:
                return entry, True
            state, meta = build()
            return self.store(key, state, meta), False
        finally:
            lock.release()

    def load(self, key: str, expected_keys: set[str]) -> Entry | None:
        """The valid entry of ``key``, or None when it is missing or fails a check."""
        weights, meta_path, _ = self.paths(key)
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") != key or file_sha256(weights) != meta.get("sha256"):
                raise ValueError("weights do not match their recorded sha256")
            state = torch.load(weights, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or set(state) != expected_keys:
                raise ValueError("weights are not this encoder's state dict")
        except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("cached encoder %s is corrupt (%s); rebuilding it", key, exc)
            return None
        return Entry(state=state, meta=meta)

    def metadata(self) -> Iterator[dict[str, Any]]:
        """The metadata of every entry in the folder (unreadable ones skipped), unverified.

        For explaining a miss, never for loading: that is :meth:`load`'s job.
        """
        for path in sorted(self.root.glob("*.json")):
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict):
                yield meta

    def store(self, key: str, state: State, meta: Mapping[str, Any]) -> Entry:
        """Write ``state`` and ``meta`` atomically (weights first, then metadata)."""
        weights, meta_path, _ = self.paths(key)
        state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        tmp = weights.with_name(f"{weights.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, weights)
        full = {**meta, "key": key, "sha256": file_sha256(weights)}
        tmp = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(full, indent=1, sort_keys=True, default=str))
        os.replace(tmp, meta_path)
        log.info("cached pretrained encoder %s in %s", key, self.root)
        return Entry(state=state, meta=full)
