"""Open an MLflow tracking store so that any number of trials may first-touch it at once.

MLflow's ``SqlAlchemyStore`` creates and migrates the sqlite schema when it is constructed, with
no guard across processes: parallel trials on a fresh ``mlflow.db`` run the migrations at the same
time and leave the store broken for good (``duplicate column name: step``, ``table
_alembic_tmp_latest_metrics already exists``). :func:`open_client` is the only way tlsweep makes
an ``MlflowClient``. For a sqlite URI it builds the store once per process under a file lock next
to the database, so exactly one process creates and migrates the schema (the model registry
shares the same tables and finds them complete). For an http(s) URI it probes the server once, so
a dead server fails in seconds with one line instead of minutes of retries in every trial. The
guard sits where a trial opens its store, so it holds for every sweeper and launcher.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from tlsweep.errors import ConfigError, suggest

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

PROBE_SECONDS = 6.0  #: how long a silent server gets before the run gives up
LOCK_SECONDS = 600.0  # a migration takes seconds; this only bounds a hung file system
_opened: set[str] = set()  # URIs this process has already initialised or probed
_opened_lock = threading.Lock()


def open_client(uri: str) -> MlflowClient:
    """An ``MlflowClient`` on ``uri``, its store ready for use by many processes at once.

    The first call per URI in a process creates (sqlite: under a cross-process lock) or probes
    (http/https) the store; later calls only build the client.

    Args:
        uri: the tracking URI (``tracking.uri``).

    Returns:
        A client whose store exists and has the current schema.

    Raises:
        ConfigError: unknown scheme, a sqlite location that cannot be created or opened, or a
            server that does not answer within :data:`PROBE_SECONDS`.
    """
    if uri not in _opened:
        with _opened_lock:
            if uri not in _opened:
                _prepare(uri)
                _opened.add(uri)
    return _client(uri)


def _prepare(uri: str) -> None:
    """Initialise a sqlite store or probe a server, once; other schemes go to MLflow as is."""
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme.lower()
    if scheme == "sqlite" or scheme.startswith("sqlite+"):
        _init_sqlite(uri)
    elif scheme in ("http", "https"):
        _probe_server(uri)
    else:
        _client(uri)  # MLflow builds (for a database server: migrates) the store here


SQLITE_BUSY_SECONDS = 120  # sqlite3's default 5 s loses writes when 16 trials log at once


def _busy_timeout(uri: str) -> str:
    """A sqlite URI whose connections wait for a writer's lock instead of failing after 5 s."""
    if not uri.startswith("sqlite") or "timeout=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}timeout={SQLITE_BUSY_SECONDS}"


def _client(uri: str) -> MlflowClient:
    """``MlflowClient(uri)``; an unknown scheme or a missing database driver in one line."""
    from mlflow.tracking import MlflowClient
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    try:
        return MlflowClient(tracking_uri=_busy_timeout(uri))
    except UnsupportedModelRegistryStoreURIException as exc:
        scheme = uri.partition(":")[0]
        known = sorted(s for s in exc.supported_uri_schemes if s)
        raise ConfigError(
            f"tracking.uri={uri}: unknown scheme '{scheme}'; {suggest(scheme, known)}"
            f"options: {', '.join(known)}"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"tracking.uri={uri}: needs the Python package '{exc.name}', which is not installed"
        ) from None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite://`` URI, or None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def _init_sqlite(uri: str) -> None:
    """Create the folder, then build the store (schema creation + migration) under a lock."""
    from filelock import FileLock, Timeout

    path = sqlite_path(uri)
    if path is None:
        _client(uri)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"tracking.uri={uri}: cannot create the folder {path.parent} for the MLflow store "
            f"({exc.strerror or exc})"
        ) from None
    lock_path = path.with_name(path.name + ".lock")
    try:
        with FileLock(str(lock_path), timeout=LOCK_SECONDS):
            _build_sqlite_store(uri, path)
    except Timeout:
        raise ConfigError(
            f"tracking.uri={uri}: waited {LOCK_SECONDS:.0f} s for the lock {lock_path} held by "
            "another process creating the store"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"tracking.uri={uri}: cannot write in {path.parent} ({exc.strerror or exc})"
        ) from None


def _build_sqlite_store(uri: str, path: Path) -> None:
    """Construct the store once: a fresh file gets its tables and migrations here."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    fresh = not path.exists() or path.stat().st_size == 0
    started = time.monotonic()
    try:
        # sqlite's own check first: MLflow retries an unopenable file for about 100 s.
        with closing(sqlite3.connect(path, timeout=30)) as db:
            db.execute("PRAGMA schema_version").fetchone()
        _client(uri)
    except (sqlite3.Error, SQLAlchemyError, MlflowException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"tracking.uri={uri}: cannot open the MLflow store {path}: {first}"
        ) from None
    if fresh:
        log.info("created MLflow store %s in %.1f s", path, time.monotonic() - started)


def _probe_server(uri: str) -> None:
    """Fail in one line unless something answers HTTP at ``uri`` within PROBE_SECONDS.

    Any HTTP reply counts (an auth proxy's 401, a 404 under a path prefix), and so does a TLS
    handshake error: the server is there, and MLflow applies its own TLS settings. Only silence
    (refused, unresolvable, timed out) is fatal; it is retried briefly for a restarting server.
    """
    import ssl
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/health"
    deadline = time.monotonic() + PROBE_SECONDS
    while True:
        left = deadline - time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=max(0.5, min(3.0, left))):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):
                return
            if time.monotonic() + 1.0 >= deadline:
                raise ConfigError(
                    f"tracking.uri={uri}: no MLflow server answers there ({reason}); start it "
                    "or set tracking.uri to a running server or sqlite:///mlflow.db"
                ) from None
        time.sleep(1.0)
