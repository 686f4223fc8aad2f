"""The embedded default measurement store: one SQLite file, no server.

URLs (decided here, documented in ``open_backend``):

- ``sqlite:///abs/path.db`` and ``sqlite:////abs/path.db`` -> the absolute path ``/abs/path.db``
- ``sqlite:relative/path.db`` -> a path relative to the working directory
- ``sqlite://:memory:`` -> a private in-memory database (gone on close)

All SQLite work runs in a worker thread (``anyio.to_thread.run_sync``) on one dedicated
connection, one call at a time, so the event loop never blocks. The file is in WAL mode with a
busy timeout so a reader (``cloudperf stats``) and a writer (``cloudperf measure``) in
different processes do not trip over each other.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread

from adapters.window_rows import window_from_row, window_to_row
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
)
from cloudperf_core.models import IngestOutcome, ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.windows.aggregate import combine_all

__all__ = ["SCHEMA_VERSION", "SqliteMeasurementStore", "open_backend", "path_from_url"]

T = TypeVar("T")

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
# Well under SQLite's bound-parameter limit; long filter lists are queried in chunks.
MAX_PARAMS_PER_LIST = 500

# Migration N creates schema version N from N-1; append new ones, never edit old ones.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS ingested_reports (
            report_id TEXT PRIMARY KEY,
            ingested_at_ms INTEGER NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS windows (
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            window_start_s INTEGER NOT NULL,
            window_s INTEGER NOT NULL,
            sent INTEGER NOT NULL,
            received INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            rtt_sum_us INTEGER NOT NULL,
            rtt_sumsq_us2 REAL NOT NULL,
            rtt_min_us INTEGER,
            rtt_max_us INTEGER,
            jitter_sum_us INTEGER NOT NULL,
            jitter_pairs INTEGER NOT NULL,
            sketch BLOB NOT NULL,
            PRIMARY KEY (source, target, window_start_s, window_s)
        )""",
        "CREATE INDEX IF NOT EXISTS windows_by_time ON windows (window_start_s)",
    ),
}

SELECT_WINDOW = (
    "SELECT source, target, window_start_s, window_s, sent, received, duplicates, rtt_sum_us, "
    "rtt_sumsq_us2, rtt_min_us, rtt_max_us, jitter_sum_us, jitter_pairs, sketch FROM windows "
    "WHERE source = ? AND target = ? AND window_start_s = ? AND window_s = ?"
)
UPSERT_WINDOW = (
    "INSERT OR REPLACE INTO windows (source, target, window_start_s, window_s, sent, received, "
    "duplicates, rtt_sum_us, rtt_sumsq_us2, rtt_min_us, rtt_max_us, jitter_sum_us, "
    "jitter_pairs, sketch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_REPORT = "INSERT INTO ingested_reports (report_id, ingested_at_ms) VALUES (?, ?)"
SELECT_REPORTS_IN = "SELECT report_id FROM ingested_reports WHERE report_id IN ({marks})"
SELECT_WINDOWS = (
    "SELECT source, target, window_start_s, window_s, sent, received, duplicates, rtt_sum_us, "
    "rtt_sumsq_us2, rtt_min_us, rtt_max_us, jitter_sum_us, jitter_pairs, sketch FROM windows "
    "WHERE 1 = 1"
)
WHERE_SOURCES_IN = " AND source IN ({marks})"
WHERE_TARGETS_IN = " AND target IN ({marks})"
WHERE_SINCE = " AND window_start_s >= ?"
WHERE_UNTIL = " AND window_start_s < ?"
ORDER_WINDOWS = " ORDER BY source, target, window_start_s, window_s"


def _marks(n: int) -> str:
    """``?, ?, ?`` for ``n`` values: only placeholders go into SQL text, never values."""
    return ", ".join("?" * n)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), MAX_PARAMS_PER_LIST):
        yield values[i : i + MAX_PARAMS_PER_LIST]


def _map_error(exc: sqlite3.Error, doing: str) -> CloudperfError:
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        return BackendUnavailableError(f"sqlite store busy while {doing}: {message}")
    return BackendError(f"sqlite store failed while {doing}: {message}")


def path_from_url(url: str) -> str:
    """The database path a ``sqlite:`` URL names (``":memory:"`` for an in-memory one)."""
    parts = urlsplit(url)
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


class SqliteMeasurementStore:
    """A :class:`~cloudperf_core.ports.MeasurementStore` in one SQLite file.

    Open it with :meth:`open` (or ``open_store("sqlite:///path.db")``); the schema is created
    or migrated on open. ``ingest`` writes a whole batch in one transaction.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> SqliteMeasurementStore:
        """Open (creating if needed) the database at ``path``; ``":memory:"`` for a private
        in-memory one. Raises BackendConfigError if it is a directory or not a database.

        ``busy_timeout_s`` is how long a write waits for another process's lock before
        failing with BackendUnavailableError.
        """
        name = str(path)
        conn = await anyio.to_thread.run_sync(_connect, name, busy_timeout_s)
        store = cls(conn, name)
        try:
            await store.migrate()
        except BaseException:
            with anyio.CancelScope(shield=True):  # close even when open was cancelled
                await store.close()
            raise
        return store

    async def _run(self, fn: Callable[[sqlite3.Connection], T], doing: str) -> T:
        def call() -> T:
            with self._lock:
                if self._conn is None:
                    raise BackendError(f"sqlite store {self.path} is closed")
                try:
                    return fn(self._conn)
                except sqlite3.Error as exc:
                    raise _map_error(exc, doing) from exc

        # Not abandoned on cancellation: a transaction always finishes or rolls back first.
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def schema_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        return await self._run(_user_version, "reading the schema version")

    async def migrate(self) -> list[int]:
        """Bring the schema up to :data:`SCHEMA_VERSION`; the versions applied now."""
        return await self._run(_migrate, "migrating the schema")

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Merge every new report's windows into their rows in one transaction (see port)."""
        if not batch:
            return IngestOutcome()
        return await self._run(lambda conn: _ingest(conn, batch), "ingesting reports")

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Window rows matching the query, ordered by source, target and time."""
        if query.sources == () or query.targets == ():
            return []
        return await self._run(lambda conn: _fetch(conn, query), "fetching windows")

    async def close(self) -> None:
        """Close the connection; later calls raise BackendError. Closing twice is fine."""

        def shut() -> None:
            with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        await anyio.to_thread.run_sync(shut, limiter=self._limiter)


# --- blocking helpers: these run in the worker thread only ----------------------------------


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


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _migrate(conn: sqlite3.Connection) -> list[int]:
    applied: list[int] = []
    if _user_version(conn) == SCHEMA_VERSION:
        return applied  # up to date: no write lock, so opening never waits for a writer
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _user_version(conn)
        if version > SCHEMA_VERSION:
            raise BackendConfigError(
                f"sqlite store has schema version {version}, newer than this cloudperf "
                f"understands ({SCHEMA_VERSION}); upgrade cloudperf"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            applied.append(target)
        if applied:
            # PRAGMA takes no parameters; the value is our own integer constant.
            conn.execute(f"PRAGMA user_version = {int(applied[-1])}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _already_ingested(conn: sqlite3.Connection, report_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(report_ids):
        sql = SELECT_REPORTS_IN.format(marks=_marks(len(chunk)))
        found.update(row[0] for row in conn.execute(sql, tuple(chunk)))
    return found


def _ingest(conn: sqlite3.Connection, batch: Sequence[ReportWindows]) -> IngestOutcome:
    outcome = IngestOutcome()
    # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
    conn.execute("BEGIN IMMEDIATE")
    try:
        known = _already_ingested(conn, list(dict.fromkeys(r.report_id for r in batch)))
        pending: dict[tuple[str, str, int, int], list[WindowAggregate]] = {}
        for report in batch:
            if report.report_id in known:
                outcome.duplicates.append(report.report_id)
                continue
            known.add(report.report_id)
            outcome.ingested.append(report.report_id)
            for window in report.windows:
                key = (window.source, window.target, window.window_start_s, window.window_s)
                pending.setdefault(key, []).append(window)
        stored: dict[tuple[str, str, int, int], WindowAggregate] = {}
        for key in pending:
            found = conn.execute(SELECT_WINDOW, key).fetchone()
            if found is not None:
                stored[key] = window_from_row(found)
        staged = combine_all(pending, stored).values()
        conn.executemany(UPSERT_WINDOW, [window_to_row(w) for w in staged])
        now_ms = int(time.time() * 1000)
        conn.executemany(INSERT_REPORT, [(rid, now_ms) for rid in outcome.ingested])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return outcome


def _fetch(conn: sqlite3.Connection, query: StatsQuery) -> list[WindowAggregate]:
    # Deduplicated first, so a value cannot land in two chunks and return its rows twice.
    source_chunks: list[Sequence[str] | None] = (
        list(_chunks(tuple(dict.fromkeys(query.sources)))) if query.sources is not None else [None]
    )
    target_chunks: list[Sequence[str] | None] = (
        list(_chunks(tuple(dict.fromkeys(query.targets)))) if query.targets is not None else [None]
    )
    rows: list[WindowAggregate] = []
    for sources in source_chunks:
        for targets in target_chunks:
            sql = SELECT_WINDOWS
            params: list[Any] = []
            if sources is not None:
                sql += WHERE_SOURCES_IN.format(marks=_marks(len(sources)))
                params.extend(sources)
            if targets is not None:
                sql += WHERE_TARGETS_IN.format(marks=_marks(len(targets)))
                params.extend(targets)
            if query.since_s is not None:
                sql += WHERE_SINCE
                params.append(query.since_s)
            if query.until_s is not None:
                sql += WHERE_UNTIL
                params.append(query.until_s)
            rows.extend(window_from_row(r) for r in conn.execute(sql + ORDER_WINDOWS, params))
    if len(source_chunks) * len(target_chunks) > 1:
        rows.sort(key=lambda w: (w.source, w.target, w.window_start_s, w.window_s))
    return rows


async def open_backend(url: str, port: str) -> object:
    """``sqlite:///abs/path.db``, ``sqlite:relative.db`` or ``sqlite://:memory:`` -> store."""
    if port != "store":
        raise BackendConfigError(
            f"sqlite:// provides only a measurement store, not {port!r}; "
            "use memory://, redis:// or sqs:// for queues and caches"
        )
    return await SqliteMeasurementStore.open(path_from_url(url))


if TYPE_CHECKING:  # mypy proves the store satisfies its ports; nothing runs here
    from cloudperf_core.ports import MeasurementStore, Migratable

    def _conforms(store: SqliteMeasurementStore) -> tuple[MeasurementStore, Migratable]:
        return (store, store)
