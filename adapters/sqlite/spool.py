"""The probe agent's spool in a SQLite file (``ReportSpool``): reports survive API outages
and agent restarts, and each is delivered once.

A file of its own (not the measurement store's), marked with ``PRAGMA application_id`` so a
store file given by mistake is refused rather than written into. Two tables: ``pending``
(oldest first by ``spool_id``) and ``rejected`` (refused for good, with the reason). Every
change is one transaction on the one connection of :class:`~adapters.sqlite.db.SqliteDatabase`
(WAL, worker thread), so a SIGTERM or a crash leaves an item either pending or gone, never
half-written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from adapters.sqlite.db import SqliteDatabase, write_tx
from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import BackendConfigError, BackendError
from cloudperf_core.ports import Clock
from cloudperf_core.protocol import RejectedReport, ReportSubmission, SpooledReport

__all__ = ["SPOOL_APPLICATION_ID", "SqliteReportSpool", "migrate_spool"]

SPOOL_APPLICATION_ID = 0x63707370  # "cpsp"
_SCHEMA = (
    """CREATE TABLE pending (
        spool_id INTEGER PRIMARY KEY AUTOINCREMENT,
        body BLOB NOT NULL,
        queued_at_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE rejected (
        spool_id INTEGER PRIMARY KEY,
        body BLOB NOT NULL,
        queued_at_ms INTEGER NOT NULL,
        rejected_at_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
    )""",
    f"PRAGMA application_id = {SPOOL_APPLICATION_ID}",
)
_INSERT = "INSERT INTO pending (body, queued_at_ms) VALUES (?, ?)"
_PENDING = "SELECT spool_id, body, queued_at_ms FROM pending ORDER BY spool_id LIMIT ?"
_COUNT = "SELECT count(*) FROM pending"
_DELETE = "DELETE FROM pending WHERE spool_id = ?"
_MOVE = """INSERT INTO rejected (spool_id, body, queued_at_ms, rejected_at_ms, reason)
    SELECT spool_id, body, queued_at_ms, ?, ? FROM pending WHERE spool_id = ?"""
_REJECTED = """SELECT spool_id, body, queued_at_ms, rejected_at_ms, reason
    FROM rejected ORDER BY spool_id LIMIT ?"""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ReportSubmission)


def _application_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA application_id").fetchone()[0])


def migrate_spool(conn: sqlite3.Connection) -> list[int]:
    """Create the spool's tables in a new file; refuse a file that is something else."""
    if _application_id(conn) == SPOOL_APPLICATION_ID:
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = _application_id(conn)
        if app_id != SPOOL_APPLICATION_ID:
            tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
            if app_id != 0 or tables:
                raise BackendConfigError(
                    "this file is not a cloudperf probe spool (another database?); "
                    "give the agent a spool file of its own"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [1] if app_id == 0 else []


class SqliteReportSpool:
    """``ReportSpool`` in one SQLite file.

    >>> spool = await SqliteReportSpool.open("/var/lib/cloudperf/spool.db")  # doctest: +SKIP
    """

    def __init__(self, db: SqliteDatabase, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock: Clock = clock or SystemClock()

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock | None = None) -> SqliteReportSpool:
        return cls(await SqliteDatabase.open(path, migrator=migrate_spool), clock=clock)

    @property
    def path(self) -> str:
        return self._db.path

    async def put(self, submissions: Sequence[ReportSubmission]) -> list[int]:
        bodies = [_encoder.encode(s) for s in submissions]
        now_ms = self._clock.now_ms()

        def insert(conn: sqlite3.Connection) -> list[int]:
            with write_tx(conn):
                ids = []
                for body in bodies:
                    cursor = conn.execute(_INSERT, (body, now_ms))
                    assert cursor.lastrowid is not None
                    ids.append(int(cursor.lastrowid))
                return ids

        return await self._db.run(insert, "spooling reports")

    async def pending(self, limit: int = 100) -> list[SpooledReport]:
        rows = await self._db.run(
            lambda conn: conn.execute(_PENDING, (limit,)).fetchall(), "reading the spool"
        )
        return [
            SpooledReport(spool_id=row[0], submission=_decode(row[1]), queued_at_ms=row[2])
            for row in rows
        ]

    async def pending_count(self) -> int:
        row = await self._db.run(lambda conn: conn.execute(_COUNT).fetchone(), "counting")
        return int(row[0])

    async def remove(self, spool_id: int) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                conn.execute(_DELETE, (spool_id,))

        await self._db.run(delete, "removing a delivered report")

    async def reject(self, spool_id: int, reason: str) -> None:
        now_ms = self._clock.now_ms()

        def move(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                conn.execute(_MOVE, (now_ms, reason, spool_id))
                conn.execute(_DELETE, (spool_id,))

        await self._db.run(move, "moving a refused report aside")

    async def rejected(self, limit: int = 100) -> list[RejectedReport]:
        rows = await self._db.run(
            lambda conn: conn.execute(_REJECTED, (limit,)).fetchall(), "reading the spool"
        )
        return [
            RejectedReport(
                spool_id=row[0],
                submission=_decode(row[1]),
                queued_at_ms=row[2],
                rejected_at_ms=row[3],
                reason=row[4],
            )
            for row in rows
        ]

    async def close(self) -> None:
        await self._db.close()


def _decode(body: bytes) -> ReportSubmission:
    try:
        return _decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise BackendError(f"a spooled report is damaged: {exc}") from exc


if TYPE_CHECKING:  # mypy proves the spool satisfies its port; nothing runs here
    from cloudperf_core.ports import ReportSpool

    def _conforms(spool: SqliteReportSpool) -> ReportSpool:
        return spool
