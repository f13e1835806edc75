"""Journal files that survive a writer killed in the middle of an append.

Optuna's ``JournalFileBackend`` appends one JSON line per operation. A SIGKILL (``scancel``, the
OOM killer, a dead node) during the write leaves a torn last line. Optuna's reader skips a torn
*last* line, but the next append lands right after it, the torn fragment and the new line become
one line that is not JSON, and every later read dies with a ``JSONDecodeError``. So, always under
the journal's own lock (no live writer is then half-way through a line): before a journal is
opened and before every append, a torn tail is cut off, after copying the whole file to
``<file>.torn-<timestamp>``; a journal that is already broken that way (a fragment glued to a
good line, from before this repair existed) is mended when Optuna fails to read it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_LOG_START = b'{"op_code"'  # how every log Optuna writes begins (json.dumps of a dict)


class RepairingJournalBackend(JournalFileBackend):
    """A ``JournalFileBackend`` that never appends after a torn line.

    Args:
        path: the journal file (created when missing).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.lock = JournalFileSymlinkLock(path)
        super().__init__(path, lock_obj=self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` as Optuna does, after cutting off a torn tail (see the module)."""
        text = "\n".join(json.dumps(entry, separators=(",", ":")) for entry in logs) + "\n"
        with_lock(self.lock, lambda: _append(self.path, text.encode("utf-8")))


def with_lock(lock: JournalFileSymlinkLock, action: Callable[[], Any]) -> Any:
    """Run ``action`` holding the journal's own lock (the one Optuna's writers take)."""
    lock.acquire()
    try:
        return action()
    finally:
        lock.release()


def _append(path: Path, data: bytes) -> None:
    if not _ends_with_newline(path):
        repair_tail(path)
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return True
        f.seek(size - 1)
        return f.read(1) == b"\n"


def repair_tail(path: Path) -> int:
    """Cut the torn lines off the end of the journal at ``path``; call it holding its lock.

    A line is torn when it lacks its newline or is not JSON. The file is first copied to
    ``<file>.torn-<timestamp>``.

    Returns:
        The number of bytes dropped (0: the journal was intact).

    Raises:
        ValueError: no line of a non-empty file is a journal line (not an Optuna journal).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    with path.open("rb") as f:
        keep = _intact_length(f, size)
    if keep == size:
        return 0
    if keep == 0:
        raise ValueError(f"{path} is not an Optuna journal: no line of it is a JSON log")
    backup = _backup(path)
    with path.open("r+b") as f:
        f.truncate(keep)
        os.fsync(f.fileno())
    log.warning(
        f"journal {path}: dropped a torn last line ({size - keep} bytes, from a write that was "
        f"killed); the journal as it was is in {backup}"
    )
    return size - keep


def mend(path: Path) -> int:
    """Remove torn fragments anywhere in the journal at ``path``; call it holding its lock.

    A torn fragment followed by an append looks like ``<fragment>{"op_code":…}``: the good log
    after the fragment is kept, the fragment dropped (no reader ever saw it as a log).

    Returns:
        The number of bytes dropped (0: nothing to mend).
    """
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    good = [fixed for line in lines if (fixed := _salvage(line)) is not None]
    kept = b"".join(good)
    if kept == data:
        return 0
    backup = _backup(path)
    tmp = path.with_name(f"{path.name}.mending-{os.getpid()}")
    tmp.write_bytes(kept)
    os.replace(tmp, path)
    log.warning(
        f"journal {path}: removed torn fragments ({len(data) - len(kept)} bytes, from writes "
        f"that were killed); the journal as it was is in {backup}"
    )
    return len(data) - len(kept)


def _salvage(line: bytes) -> bytes | None:
    if _is_log(line):
        return line
    at = line.rfind(_LOG_START)
    while at > 0:
        if _is_log(line[at:]):
            return line[at:]
        at = line.rfind(_LOG_START, 0, at)
    return None


def _is_log(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _intact_length(f: BinaryIO, size: int) -> int:
    """The length of the journal without its torn trailing lines."""
    end = size
    while end > 0:
        start = _line_start(f, end)
        f.seek(start)
        if _is_log(f.read(end - start)):
            return end
        end = start
    return 0


def _line_start(f: BinaryIO, end: int) -> int:
    """Where the line that ends at ``end`` (its newline included, if any) begins."""
    hi = end - 1
    while hi > 0:
        lo = max(0, hi - _CHUNK)
        f.seek(lo)
        at = f.read(hi - lo).rfind(b"\n")
        if at >= 0:
            return lo + at + 1
        hi = lo
    return 0


def _backup(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.torn-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.torn-{stamp}-{n}")
    shutil.copy2(path, backup)
    return backup
