"""Open a study's storage from the one string both the sweeper and its trial jobs see.

The string is an RDB URL (``sqlite:///…``, ``postgresql://…``) or a path to a JournalStorage
file. The journal is the default: one append-only file in the sweep dir, locked with symlinks,
which Optuna documents as safe on NFS, so SLURM jobs on other nodes can report to it. A journal
torn by a writer that was killed mid-append is repaired, with a backup and a warning (see
``_journal``). SQLite gets a long busy timeout because every running trial writes its
intermediate values to it. A storage that cannot be created or opened (its folder under a
regular file, no permission, a server that does not answer) is refused in one line naming
``hydra.sweeper.storage``; :func:`storage_spec` checks the folder before the sweeper writes
anything, so such a sweep queues nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

JOURNAL_FILE = "optuna_journal.log"
# study user attr holding the pruner config, so trial jobs build the same pruner
PRUNER_ATTR = "tlsweep:pruner"


def storage_spec(storage: str | None, sweep_dir: str | Path) -> str:
    """The storage string for a study: ``storage`` itself, or the journal file in ``sweep_dir``.

    Raises:
        SweeperConfigError: when the storage's file cannot be created (see :func:`check_storage`).
    """
    spec = str(storage) if storage else str((Path(sweep_dir) / JOURNAL_FILE).absolute())
    check_storage(spec)
    return spec


def is_url(spec: str) -> bool:
    """Whether ``spec`` is an RDB URL rather than a journal file path."""
    return "://" in spec


def check_storage(spec: str) -> None:
    """Refuse a journal or sqlite file whose folder cannot be created or written; write nothing.

    Server URLs (``postgresql://``) are left to the connection (see :func:`open_storage`).

    Raises:
        SweeperConfigError: naming ``hydra.sweeper.storage``, its value and the blocking path.
    """
    from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

    path = _local_file(spec)
    if path is None:
        return
    what = f"hydra.sweeper.storage={spec}"
    if path.is_dir():
        raise SweeperConfigError(f"{what}: {path} is a folder, not a file")
    probe = path.parent
    while not probe.exists():  # the first existing ancestor decides
        probe = probe.parent
    if not probe.is_dir():
        raise SweeperConfigError(f"{what}: {probe} is a file, so {path} cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SweeperConfigError(f"{what}: no permission to write in {probe}")


def _local_file(spec: str) -> Path | None:
    """The file a journal path or a ``sqlite://`` URL names, absolute; None for anything else."""
    if not is_url(spec):
        return Path(os.path.abspath(spec))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(spec)
    except ArgumentError:  # a malformed URL: RDBStorage says why
        return None
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a sqlite URI filename (?uri=true): left to sqlite
        return None
    return Path(os.path.abspath(database))


def open_storage(spec: str) -> Any:
    """Open the Optuna storage named by ``spec`` (see the module docstring).

    Returns:
        An ``optuna.storages.BaseStorage``.

    Raises:
        SweeperConfigError: when it cannot be created or opened, in one line.
    """
    check_storage(spec)
    if is_url(spec):
        return _open_rdb(spec)
    return open_journal(spec)


def _open_rdb(spec: str) -> Any:
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

    kwargs: dict[str, Any] = {}
    if spec.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        return optuna.storages.RDBStorage(spec, **kwargs)
    except ImportError as e:  # optuna's, for a missing driver (psycopg for postgresql://)
        missing = getattr(e.__cause__, "name", None)
        why = f"needs the Python package '{missing}', which is not installed" if missing else e
        raise SweeperConfigError(f"hydra.sweeper.storage={spec}: {why}") from None
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise SweeperConfigError(
            f"hydra.sweeper.storage={spec}: cannot open it: {first}"
        ) from None


def open_journal(path: str | Path) -> Any:
    """Open the journal file at ``path`` (created when missing), repaired if a write was torn.

    Read-only users (reports, plots) may call it too: a repair only drops what no reader could
    ever read.

    Returns:
        An ``optuna.storages.JournalStorage``.

    Raises:
        SweeperConfigError: when it cannot be created, read or repaired, in one line.
    """
    from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

    try:
        return _open_journal(path)
    except OSError as e:  # e.g. no permission to create the file or its lock
        where = f" {e.filename}" if e.filename else ""
        raise SweeperConfigError(
            f"hydra.sweeper.storage={path}: cannot create or write{where}: {e.strerror or e}"
        ) from None


def _open_journal(path: str | Path) -> Any:
    from optuna.storages.journal import JournalStorage

    from hydra_plugins.tlsweep_sweeper._journal import (
        RepairingJournalBackend,
        mend,
        repair_tail,
        with_lock,
    )
    from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    backend = RepairingJournalBackend(str(path))
    try:
        with_lock(backend.lock, lambda: repair_tail(backend.path))
    except ValueError as e:
        raise SweeperConfigError(f"hydra.sweeper.storage={path}: {e}") from None
    try:
        return JournalStorage(backend)
    except ValueError:  # a torn fragment inside the file, from before the repair existed
        if not with_lock(backend.lock, lambda: mend(backend.path)):
            raise
    return JournalStorage(RepairingJournalBackend(str(path)))
