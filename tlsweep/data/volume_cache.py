"""A preprocessed-volume array on disk that is written atomically and read only when verified.

``images.npy`` is what every trial memory-maps, so a half-written, truncated or overwritten file
would silently feed wrong volumes to every later run. It is written to a temporary file and
renamed, and a sidecar ``images.npy.json`` (written the same way, after the array) records its
size, modification time and sha256. A reader trusts the file when size and mtime match the
sidecar, re-hashes it when only the mtime differs, and otherwise warns, naming the file, and
reports it missing so the caller rebuilds it. The caller holds a lock around both calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
CHUNK = 1 << 24


def write_verified(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (.npy) and its checksum sidecar, each atomically."""
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npy")  # np.save keeps a .npy suffix
    np.save(tmp, array)
    digest = _sha256(tmp)
    os.replace(tmp, path)
    stat = path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    side = _sidecar(path)
    side_tmp = side.with_name(f"{side.name}.tmp{os.getpid()}")
    side_tmp.write_text(json.dumps(record))
    os.replace(side_tmp, side)


def read_verified(path: Path, shape: tuple[int, ...]) -> np.memmap | None:
    """Memory-map ``path`` if it matches its sidecar and ``shape``; None if it must be rebuilt.

    A file that exists but fails a check is named in a warning; a missing file is silent.
    """
    if not path.exists():
        return None
    problem = _problem(path)
    if problem is None:
        images = np.load(path, mmap_mode="r")
        if tuple(images.shape) == tuple(shape) and images.dtype == np.float16:
            return images
        problem = f"holds {images.dtype} {tuple(images.shape)}, expected float16 {tuple(shape)}"
    log.warning("preprocessed-volume cache %s %s; rebuilding it", path, problem)
    return None


def recorded_sha256(path: Path) -> str | None:
    """The sha256 that ``path``'s sidecar records (read after :func:`read_verified` trusted it)."""
    try:
        return str(json.loads(_sidecar(path).read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _problem(path: Path) -> str | None:
    """Why ``path`` cannot be trusted, or None."""
    try:
        record = json.loads(_sidecar(path).read_text())
        size, mtime, digest = int(record["size"]), int(record["mtime_ns"]), str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return "has no valid checksum sidecar (a write was interrupted?)"
    stat = path.stat()
    if stat.st_size != size:
        return f"is {stat.st_size} bytes, {size} were written (truncated or overwritten)"
    if stat.st_mtime_ns != mtime and _sha256(path) != digest:
        return "does not match its sha256 (overwritten)"
    return None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
