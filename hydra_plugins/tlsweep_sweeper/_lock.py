"""One sweeper per study: a lock file with a heartbeat, in the study's folder.

A second sweeper on a study that is being run would tell the first one's running trials FAIL
(it takes them for leftovers of a dead sweep) and ask trials beyond ``n_trials``. So a sweeper
claims each study before it opens it: ``<folder>/<study>.sweeper.lock`` records its host, pid,
start time and a heartbeat that a daemon thread refreshes every :data:`HEARTBEAT_S` seconds.
A claim held by a live sweeper is refused in one line naming it; a stale one (no heartbeat for
:data:`STALE_S` seconds, or its process is gone from this host) is taken over with a warning.
Reading and writing the claim happens under a ``filelock`` (``<lock>.flock``, held for
milliseconds), so two sweepers starting together cannot both win; the heartbeat, not the
``flock``, is what survives on a network file system and across hosts.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # how often the holder refreshes its heartbeat
STALE_S = 60.0  # a heartbeat this old means the holder is gone (or frozen)
_MUTEX_S = 10.0
_HOST = socket.gethostname()
_held: dict[Path, StudyLock] = {}  # the locks this process holds, by path (re-entrant)


class StudyLockedError(SweeperConfigError):
    """Another live sweeper holds the study."""


def lock_path(folder: Path, study_name: str) -> Path:
    """The lock file of ``study_name`` in ``folder``."""
    return folder / f"{re.sub(r'[^A-Za-z0-9_.=-]', '_', study_name)}.sweeper.lock"


def claim(folder: Path, study_name: str) -> StudyLock:
    """Claim ``study_name`` for this process, or raise :class:`StudyLockedError`.

    A study this process already holds is shared (released when every claim is).
    """
    path = lock_path(folder, study_name).absolute()
    lock = _held.get(path)
    if lock is None:
        lock = StudyLock(path, study_name)
        lock.acquire()
        _held[path] = lock
    lock.claims += 1
    return lock


class StudyLock:
    """A claimed study: its heartbeat file and the thread that refreshes it (see the module).

    Args:
        path: the lock (heartbeat) file.
        study_name: the study's name, for messages.
    """

    def __init__(self, path: Path, study_name: str) -> None:
        self.path, self.study_name = path, study_name
        self.mutex = FileLock(str(path) + ".flock", timeout=_MUTEX_S)
        self.claims = 0
        self.record = {
            "host": _HOST,
            "pid": os.getpid(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "study": study_name,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Write the claim, or raise :class:`StudyLockedError`; then start the heartbeat."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.mutex:
                holder = _read(self.path)
                if holder is not None:
                    self._check_holder(holder)
                self._beat()
        except Timeout:
            raise SweeperConfigError(
                f"study {self.study_name!r}: waited {_MUTEX_S:.0f} s for {self.mutex.lock_file}"
            ) from None
        except OSError as e:
            raise SweeperConfigError(
                f"study {self.study_name!r}: cannot write its lock {self.path} ({e.strerror or e})"
            ) from None
        self._thread = threading.Thread(
            target=self._heartbeat, name="tlsweep-study-lock", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Drop one claim; the last one stops the heartbeat and removes the lock file."""
        self.claims -= 1
        if self.claims > 0:
            return
        _held.pop(self.path, None)
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=_MUTEX_S)
        try:
            with self.mutex:
                if _is_mine(_read(self.path)):
                    self.path.unlink()
        except (OSError, Timeout) as e:
            log.warning(f"study {self.study_name!r}: could not remove its lock {self.path}: {e}")

    def _check_holder(self, holder: dict[str, Any]) -> None:
        age = time.time() - float(holder.get("beat", 0))
        host, pid = holder.get("host", "?"), holder.get("pid", "?")
        if _is_mine(holder):
            return  # a claim this process left behind (its holder object is gone)
        gone = host == _HOST and isinstance(pid, int) and not _alive(pid)
        if gone or age > STALE_S:
            why = "its process is gone" if gone else f"no heartbeat for {age:.0f} s"
            log.warning(
                f"study {self.study_name!r}: taking over the lock of the sweeper on host {host}, "
                f"pid {pid} ({why}); its RUNNING trials are marked FAIL and retried"
            )
            return
        raise StudyLockedError(
            f"study {self.study_name!r} is being run by another sweeper on host {host}, pid "
            f"{pid} (since {holder.get('started', '?')}, heartbeat {max(age, 0):.0f} s ago); "
            f"nothing was queued. Wait for it to finish or stop it, then rerun (lock: {self.path})"
        )

    def _beat(self) -> None:
        record = {**self.record, "beat": time.time()}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.path)  # readers never see half a record

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.mutex:
                    if self._stop.is_set():
                        return
                    holder = _read(self.path)
                    if holder is not None and not _is_mine(holder):
                        log.error(
                            f"study {self.study_name!r}: the sweeper on host "
                            f"{holder.get('host')}, pid {holder.get('pid')} took over the lock "
                            "(this process was frozen too long); two sweepers now run it"
                        )
                        return
                    self._beat()
            except (OSError, Timeout) as e:  # a slow file system: try again next beat
                log.warning(f"study {self.study_name!r}: heartbeat not written: {e}")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: judged by its (missing) heartbeat, i.e. stale
    return record if isinstance(record, dict) else {}


def _is_mine(holder: dict[str, Any] | None) -> bool:
    return bool(holder) and holder.get("host") == _HOST and holder.get("pid") == os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@atexit.register
def _release_all() -> None:
    """Release what an early error left claimed (e.g. a later cell was refused)."""
    for lock in list(_held.values()):
        lock.claims = 1
        lock.release()
