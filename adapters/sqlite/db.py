"""One SQLite connection used from a worker thread, shared by the store and the catalogue.

All SQLite work runs in a worker thread (``anyio.to_thread.run_sync``) on one dedicated
connection, one call at a time, so the event loop never blocks. The file is in WAL mode with a
busy timeout so a reader (``cloudperf report``) and a writer (``cloudperf measure``) in
different processes do not trip over each other. Errors leave as CloudperfError subclasses.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread

from adapters.sqlite.schema import migrate, user_version
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
)

__all__ = ["BUSY_TIMEOUT_S", "SqliteDatabase", "marks", "path_from_url", "write_tx"]

T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0
#: Brings a database's schema up to date; returns the versions applied now.
Migrator = Callable[[sqlite3.Connection], list[int]]


def marks(n: int) -> str:
    """``?, ?, ?`` for ``n`` values: only placeholders go into SQL text, never values."""
    return ", ".join("?" * n)


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; IMMEDIATE takes the lock up front, so writers queue instead of
    deadlocking. Rolled back on any exception (cancellation included)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _map_error(exc: sqlite3.Error, doing: str) -> CloudperfError:
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        return BackendUnavailableError(f"sqlite store busy while {doing}: {message}")
    return BackendError(f"sqlite store failed while {doing}: {message}")


def path_from_url(url: str) -> str:
    """The database path a ``sqlite:`` URL names (``":memory:"`` for an in-memory one)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # unbalanced brackets in the host part
        raise BackendConfigError(f"malformed sqlite URL ({exc}): {url}") from exc
    if parts.scheme.lower() != "sqlite":
        raise BackendConfigError(f"not a sqlite URL: {url}")
    if parts.query or parts.fragment:
        raise BackendConfigError(f"sqlite URLs take no options: {url}")
    if parts.netloc == ":memory:" and parts.path in ("", "/"):
        return ":memory:"
    if parts.netloc:
        raise BackendConfigError(
            f"sqlite URL names a host ({parts.netloc!r}); use sqlite:///absolute/path.db "
            f"or sqlite:relative/path.db: {url}"
        )
    path = unquote(parts.path)
    if not path or path == "/":
        raise BackendConfigError(f"sqlite URL has no file path: {url}")
    if path.startswith("//"):  # sqlite:////abs (SQLAlchemy spelling) means /abs
        path = "/" + path.lstrip("/")
    return path


class SqliteDatabase:
    """The connection, its lock and the thread hop; schema migrated on :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: str, migrator: Migrator = migrate) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path
        self._migrator = migrator
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        migrator: Migrator = migrate,
    ) -> SqliteDatabase:
        """Open (creating if needed) and migrate the database at ``path`` (``":memory:"``
        for a private in-memory one). BackendConfigError for a directory or a non-database.

        ``migrator`` brings the schema up to date (default: the store and catalogue's; the
        probe agent's spool has its own).
        """
        name = str(path)
        conn = await anyio.to_thread.run_sync(_connect, name, busy_timeout_s)
        db = cls(conn, name, migrator)
        try:
            await db.migrate()
        except BaseException:
            with anyio.CancelScope(shield=True):  # close even when open was cancelled
                await db.close()
            raise
        return db

    async def run(self, fn: Callable[[sqlite3.Connection], T], doing: str) -> T:
        def call() -> T:
            with self._lock:
                if self._conn is None:
                    raise BackendError(f"sqlite store {self.path} is closed")
                try:
                    return fn(self._conn)
                except CloudperfError:
                    raise
                except sqlite3.Error as exc:
                    raise _map_error(exc, doing) from exc
                except (OverflowError, ValueError, TypeError) as exc:
                    # A value sqlite3 cannot bind (an integer past 64 bits, a string that is
                    # not UTF-8): the same statement fails again, so no retry.
                    detail = f"sqlite store refused a value while {doing}: {exc}"
                    raise BackendError(detail) from exc

        # Not abandoned on cancellation: a transaction always finishes or rolls back first.
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def schema_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        return await self.run(user_version, "reading the schema version")

    async def migrate(self) -> list[int]:
        """Bring the schema up to date; the versions applied now."""
        return await self.run(self._migrator, "migrating the schema")

    async def close(self) -> None:
        """Close the connection; later calls raise BackendError. Closing twice is fine."""

        def shut() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        await anyio.to_thread.run_sync(shut, limiter=self._limiter)


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    if path != ":memory:":
        target = Path(path)
        if target.is_dir():
            raise BackendConfigError(f"sqlite store path {path} is a directory, not a file")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendConfigError(f"cannot create the directory for {path}: {exc}") from exc
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is one transaction.
        conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise BackendConfigError(f"cannot open sqlite store {path}: {exc}") from exc
    try:
        # The first statement that reads the file is where a non-database file shows up.
        conn.execute("PRAGMA user_version").fetchone()
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackendUnavailableError(f"sqlite store {path} is busy: {exc}") from exc
        raise BackendConfigError(f"cannot use sqlite store {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BackendConfigError(
            f"{path} is not a readable SQLite database ({exc}); "
            "point the store at a new file or restore this one"
        ) from exc
    return conn
