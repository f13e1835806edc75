"""Open a study's storage from the one string both the sweeper and its trial jobs see.

The string is an RDB URL (``sqlite:///…``, ``postgresql://…``) or a path to a JournalStorage
file. The journal is the default: one append-only file in the sweep dir, locked with symlinks,
which Optuna documents as safe on NFS, so SLURM jobs on other nodes can report to it. A journal
torn by a writer that was killed mid-append is repaired, with a backup and a warning (see
:mod:`._journal`). SQLite gets a long busy timeout because every running trial writes its
intermediate values to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

JOURNAL_FILE = "optuna_journal.log"
# study user attr holding the pruner config, so trial jobs build the same pruner
PRUNER_ATTR = "tlsweep:pruner"


def storage_spec(storage: str | None, sweep_dir: str | Path) -> str:
    """The storage string for a study: ``storage`` itself, or the journal file in ``sweep_dir``."""
    if storage:
        return str(storage)
    return str((Path(sweep_dir) / JOURNAL_FILE).absolute())


def is_url(spec: str) -> bool:
    """Whether ``spec`` is an RDB URL rather than a journal file path."""
    return "://" in spec


def open_storage(spec: str) -> Any:
    """Open the Optuna storage named by ``spec`` (see the module docstring).

    Returns:
        An ``optuna.storages.BaseStorage``.
    """
    import optuna

    if is_url(spec):
        kwargs: dict[str, Any] = {}
        if spec.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        return optuna.storages.RDBStorage(spec, **kwargs)
    return open_journal(spec)


def open_journal(path: str | Path) -> Any:
    """Open the journal file at ``path`` (created when missing), repaired if a write was torn.

    Read-only users (reports, plots) may call it too: a repair only drops what no reader could
    ever read.

    Returns:
        An ``optuna.storages.JournalStorage``.
    """
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
