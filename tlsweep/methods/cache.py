"""A disk cache of pretrained encoders, so HPO trials that differ only in fine-tuning share one.

An entry is keyed by a hash of everything that determines the pretraining (see
:func:`pretrain_spec`) and stored as two files in the cache folder::

    <key>.pt     the encoder's state dict (torch.save)
    <key>.json   metadata: the key, its spec, the pretraining's MLflow run id, and the sha256
                 of <key>.pt

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from tlsweep.methods.base import Context, Method

log = logging.getLogger(__name__)
State = dict[str, torch.Tensor]
# Run settings that do not change what a pretraining produces, left out of its key.
NOT_IN_KEY = ("progress", "checkpoint_every_epoch", "threads", "device")


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


def pretrain_spec(method: Method, ctx: Context) -> dict[str, Any]:
    """Everything that determines ``method``'s pretraining in this run (hashed into its key).

    The method (class, ``VERSION`` and :meth:`~tlsweep.methods.base.Method.pretrain_args`), the
    dataset config, a fingerprint of the source subjects (their ids in order, their
    participants-table rows, the preprocessed-volume cache they are read from), the split config,
    the encoder config, the pretraining schedule (``pretrain`` over ``train``, which is what the
    loop uses) and the seed.
    """
    dataset = _plain(ctx.dataset_cfg) or {}
    dataset.pop("cache_dir", None)  # where the cohort is cached does not change it
    schedule = _plain(ctx.pretrain_settings)
    return {
        "method": f"{type(method).__module__}.{type(method).__qualname__}",
        "version": method.VERSION,
        "args": method.pretrain_args(ctx),
        "dataset": dataset,
        "data": _source_fingerprint(ctx),
        "split": _plain(ctx.split_cfg),
        "encoder": _plain(ctx.encoder_cfg),
        "schedule": {k: v for k, v in schedule.items() if k not in NOT_IN_KEY},
        "seed": ctx.seed,
    }


def _plain(node: Any) -> Any:
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _source_fingerprint(ctx: Context) -> dict[str, str | None]:
    import pandas as pd

    roles = [ctx.splits["source"], ctx.splits["source_val"]]
    digest = hashlib.sha256(json.dumps(roles).encode())
    rows = ctx.cohort.table.loc[roles[0] + roles[1]]
    digest.update(pd.util.hash_pandas_object(rows, index=True).to_numpy().tobytes())
    volumes = getattr(ctx.cohort.images, "filename", None)  # memory-mapped volume cache
    volumes = Path(volumes).parent.name if volumes else None
    return {"subjects": digest.hexdigest(), "volumes": volumes}


def pretrained_encoder(method: Method, ctx: Context) -> State:
    """``method``'s pretrained encoder weights: from the cache, or pretrained (and cached) now.

    A pretraining is logged as its own MLflow run (tags ``tlsweep.role=pretraining`` and
    ``tlsweep.pretrain_key``); this run is tagged with ``tlsweep.pretrain_key``,
    ``tlsweep.pretrain_cache`` (hit, miss, or off with ``pretrain.cache=false``) and
    ``tlsweep.pretrain_run_id`` with ``tlsweep.pretrain_run_uri`` (recorded in the entry, so
    hits link to it too, even from another tracking store).
    """
    from tlsweep.tracking.mlflow_tracker import flatten

    spec = pretrain_spec(method, ctx)
    key = cache_key(spec)
    name = f"pretrain-{type(method).__name__.lower()}-{key[:8]}"

    def build() -> tuple[State, dict[str, Any]]:
        tags = {"tlsweep.role": "pretraining", "tlsweep.pretrain_key": key}
        with ctx.tracker.open_sibling(name, tags) as run:
            run.log_params(flatten(spec))
            state = method._pretrain(ctx, run)
        return state, {"run_id": run.run_id, "run_uri": run.uri, "spec": spec}

    if ctx.pretrain.cache:
        expected = set(ctx.make_encoder().state_dict())
        cache = EncoderCache(Path(ctx.pretrain.cache_dir))
        entry, hit = cache.get_or_build(key, build, expected)
        state, meta, status = entry.state, entry.meta, ("hit" if hit else "miss")
    else:
        (state, meta), status = build(), "off"
    tags = {"tlsweep.pretrain_key": key, "tlsweep.pretrain_cache": status}
    if meta.get("run_id"):  # the cache may be shared by several MLflow stores: say which
        tags["tlsweep.pretrain_run_id"] = meta["run_id"]
        tags["tlsweep.pretrain_run_uri"] = meta.get("run_uri")
    ctx.tracker.set_tags(tags)
    log.info("pretrained encoder %s: cache %s", key, status)
    return state
