"""The embedded default measurement store: one SQLite file, no server.

The connection, its worker thread and the schema live in :mod:`adapters.sqlite.db` and
:mod:`adapters.sqlite.schema`; :attr:`SqliteMeasurementStore.catalog` is the catalogue in the
same file, on the same connection.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.sqlite.catalog import SqliteCatalog
from adapters.sqlite.db import BUSY_TIMEOUT_S, SqliteDatabase, marks, write_tx
from adapters.window_rows import WINDOW_FIELDS, window_from_row, window_to_row
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import check_limit
from cloudperf_core.models import (
    DataPresence,
    IngestOutcome,
    ReportWindows,
    StatsQuery,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.reports import digests_conflict
from cloudperf_core.windows.aggregate import combine_all, window_key

__all__ = ["SqliteMeasurementStore"]

# Well under SQLite's bound-parameter limit; long filter lists are queried in chunks.
MAX_PARAMS_PER_LIST = 500
# Window keys merged and written at a time within one ingest transaction (bounds its memory).
MERGE_CHUNK_KEYS = 4096

_COLUMNS = ", ".join(WINDOW_FIELDS)  # the struct's field names are the table's columns
SELECT_WINDOW = (
    f"SELECT {_COLUMNS} FROM windows "  # noqa: S608 - constant columns, no values
    "WHERE source = ? AND target = ? AND window_start_s = ? AND window_s = ?"
)
UPSERT_WINDOW = f"INSERT OR REPLACE INTO windows ({_COLUMNS}) VALUES ({marks(len(WINDOW_FIELDS))})"  # noqa: S608 - constant columns, no values
INSERT_REPORT = "INSERT INTO ingested_reports (report_id, ingested_at_ms, digest) VALUES (?, ?, ?)"
SELECT_REPORTS_IN = "SELECT report_id, digest FROM ingested_reports WHERE report_id IN ({marks})"
SELECT_WINDOWS = f"SELECT {_COLUMNS} FROM windows WHERE 1 = 1"  # noqa: S608 - constant columns, no values
WHERE_SOURCES_IN = " AND source IN ({marks})"
WHERE_TARGETS_IN = " AND target IN ({marks})"
WHERE_DESTS_IN = " AND dest_location_id IN ({marks})"
WHERE_SINCE = " AND window_start_s >= ?"
WHERE_UNTIL = " AND window_start_s < ?"
ORDER_WINDOWS = " ORDER BY source, target, window_start_s, window_s"
SELECT_UNTAGGED = (
    "SELECT DISTINCT target FROM windows WHERE dest_location_id IS NULL AND target > ?"
    " ORDER BY target LIMIT ?"
)
TAG_TARGET = "UPDATE windows SET dest_location_id = ? WHERE target = ? AND dest_location_id IS NULL"
PRESENCE_SOURCES = (
    "SELECT DISTINCT source FROM windows WHERE window_start_s >= ? AND window_start_s < ?"
    " ORDER BY source"
)
PRESENCE_DESTS = (
    "SELECT DISTINCT dest_location_id FROM windows WHERE window_start_s >= ?"
    " AND window_start_s < ? AND dest_location_id IS NOT NULL ORDER BY dest_location_id"
)
PRESENCE_PAIRS = (
    "SELECT COUNT(*) FROM (SELECT DISTINCT source, target FROM windows"
    " WHERE window_start_s >= ? AND window_start_s < ?)"
)
# Bounds standing in for an open time range (window starts are epoch seconds).
_EARLIEST_S, _LATEST_S = -(2**62), 2**62


def _chunks(values: Sequence[Any] | None) -> Iterator[Sequence[Any] | None]:
    if values is None:
        yield None
        return
    unique = tuple(dict.fromkeys(values))  # a value in two chunks would return rows twice
    yield from chunks(unique, MAX_PARAMS_PER_LIST)


class SqliteMeasurementStore:
    """A :class:`~cloudperf_core.ports.MeasurementStore` in one SQLite file.

    Open it with :meth:`open` (or ``open_store("sqlite:///path.db")``); the schema is created
    or migrated on open. ``ingest`` writes a whole batch in one transaction.
    """

    def __init__(self, db: SqliteDatabase, *, owns_db: bool = True) -> None:
        self._db = db
        self._owns_db = owns_db
        self.path = db.path

    @classmethod
    async def open(
        cls, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> SqliteMeasurementStore:
        """Open (creating if needed) the database at ``path``; ``":memory:"`` for a private
        in-memory one. Raises BackendConfigError if it is a directory or not a database.

        ``busy_timeout_s`` is how long a write waits for another process's lock before
        failing with BackendUnavailableError.
        """
        return cls(await SqliteDatabase.open(path, busy_timeout_s=busy_timeout_s))

    @property
    def catalog(self) -> SqliteCatalog:
        """The catalogue in the same database, on the same connection."""
        return SqliteCatalog(self._db, owns_db=False)

    async def schema_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        return await self._db.schema_version()

    async def migrate(self) -> list[int]:
        """Bring the schema up to date; the versions applied now."""
        return await self._db.migrate()

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Merge every new report's windows into their rows in one transaction (see port)."""
        if not batch:
            return IngestOutcome()
        return await self._db.run(lambda conn: _ingest(conn, batch), "ingesting reports")

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Window rows matching the query, ordered by source, target and time."""
        if () in (query.sources, query.targets, query.dest_location_ids):
            return []
        return await self._db.run(lambda conn: _fetch(conn, query), "fetching windows")

    async def untagged_targets(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        check_limit(limit)

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(SELECT_UNTAGGED, (after or "", limit))
            return [r[0] for r in rows]

        return await self._db.run(body, "listing untagged targets")

    async def tag_targets(self, locations: Mapping[str, int]) -> int:
        def body(conn: sqlite3.Connection) -> int:
            with write_tx(conn):
                cur = conn.executemany(TAG_TARGET, [(lid, t) for t, lid in locations.items()])
                return cur.rowcount

        return await self._db.run(body, "tagging targets") if locations else 0

    async def data_presence(self, since_s: int | None, until_s: int | None) -> DataPresence:
        span = (
            _EARLIEST_S if since_s is None else since_s,
            _LATEST_S if until_s is None else until_s,
        )

        def body(conn: sqlite3.Connection) -> DataPresence:
            return DataPresence(
                sources=[r[0] for r in conn.execute(PRESENCE_SOURCES, span)],
                dest_location_ids=[int(r[0]) for r in conn.execute(PRESENCE_DESTS, span)],
                pairs=int(conn.execute(PRESENCE_PAIRS, span).fetchone()[0]),
            )

        return await self._db.run(body, "reading data presence")

    async def close(self) -> None:
        """Close the connection; later calls raise BackendError. Closing twice is fine."""
        if self._owns_db:
            await self._db.close()


# --- blocking helpers: these run in the worker thread only ----------------------------------


def _already_ingested(conn: sqlite3.Connection, report_ids: Sequence[str]) -> dict[str, bytes]:
    """Digest (``b""`` if unknown) of every given report id that was ingested before."""
    found: dict[str, bytes] = {}
    for chunk in _chunks(report_ids):
        assert chunk is not None
        sql = SELECT_REPORTS_IN.format(marks=marks(len(chunk)))
        found.update((row[0], bytes(row[1] or b"")) for row in conn.execute(sql, tuple(chunk)))
    return found


def _ingest(conn: sqlite3.Connection, batch: Sequence[ReportWindows]) -> IngestOutcome:
    outcome = IngestOutcome()
    with write_tx(conn):
        known = _already_ingested(conn, list(dict.fromkeys(r.report_id for r in batch)))
        fresh: list[tuple[str, bytes]] = []
        pending: dict[WindowKey, list[WindowAggregate]] = {}
        for report in batch:
            rid = report.report_id
            if rid in known:
                conflict = digests_conflict(known[rid], report.digest)
                (outcome.conflicts if conflict else outcome.duplicates).append(rid)
                continue
            known[rid] = report.digest
            outcome.ingested.append(rid)
            fresh.append((rid, report.digest))
            for window in report.windows:
                pending.setdefault(window_key(window), []).append(window)
        # Merged and written a chunk of keys at a time, inside the one transaction: a large
        # report never has all its merged rows (and their SQL tuples) in memory at once.
        keys = list(pending)
        for at in range(0, len(keys), MERGE_CHUNK_KEYS):
            part = {key: pending[key] for key in keys[at : at + MERGE_CHUNK_KEYS]}
            stored: dict[WindowKey, WindowAggregate] = {}
            for key in part:
                found = conn.execute(SELECT_WINDOW, key).fetchone()
                if found is not None:
                    stored[key] = window_from_row(found)
            staged = combine_all(part, stored).values()
            conn.executemany(UPSERT_WINDOW, (window_to_row(w) for w in staged))
        now_ms = int(time.time() * 1000)
        conn.executemany(INSERT_REPORT, [(rid, now_ms, digest or None) for rid, digest in fresh])
    return outcome


def _fetch(conn: sqlite3.Connection, query: StatsQuery) -> list[WindowAggregate]:
    rows: list[WindowAggregate] = []
    parts = list(
        itertools.product(
            _chunks(query.sources), _chunks(query.targets), _chunks(query.dest_location_ids)
        )
    )
    for sources, targets, dests in parts:
        sql = SELECT_WINDOWS
        params: list[Any] = []
        for values, clause in (
            (sources, WHERE_SOURCES_IN),
            (targets, WHERE_TARGETS_IN),
            (dests, WHERE_DESTS_IN),
        ):
            if values is not None:
                sql += clause.format(marks=marks(len(values)))
                params.extend(values)
        if query.since_s is not None:
            sql += WHERE_SINCE
            params.append(query.since_s)
        if query.until_s is not None:
            sql += WHERE_UNTIL
            params.append(query.until_s)
        rows.extend(window_from_row(r) for r in conn.execute(sql + ORDER_WINDOWS, params))
    if len(parts) > 1:
        rows.sort(key=window_key)
    return rows


if TYPE_CHECKING:  # mypy proves the store satisfies its ports; nothing runs here
    from cloudperf_core.ports import MeasurementStore, Migratable

    def _conforms(store: SqliteMeasurementStore) -> tuple[MeasurementStore, Migratable]:
        return (store, store)
