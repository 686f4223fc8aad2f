"""Probes, users and settings of the SQLite catalogue, and the plumbing it shares.

Each method is one call on the database's worker thread; writes are one transaction each.
:class:`SqliteCatalog` (``adapters.sqlite.catalog``) extends it with places and discovery.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from typing import TypeVar

import msgspec

from adapters.catalog_rows import SETTINGS_KEY, probe_from_row, settings_from_body, user_from_row
from adapters.sqlite import catalog_sql as q
from adapters.sqlite.db import SqliteDatabase, marks, write_tx
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import Probe, Settings, User, check_limit, check_probe, check_user
from cloudperf_core.errors import NotFoundError

__all__ = ["Conn", "SqliteDirectory", "location_ids"]

T = TypeVar("T")
Conn = sqlite3.Connection
_settings_encoder = msgspec.json.Encoder()


def location_ids(conn: Conn, names: Collection[str]) -> dict[str, int]:
    """name -> id of every named location; NotFoundError naming the unknown ones."""
    unique = list(dict.fromkeys(names))
    found: dict[str, int] = {}
    for chunk in chunks(unique, 500):
        rows = conn.execute(q.SELECT_LOCATION_IDS.format(marks=marks(len(chunk))), chunk)
        found.update((r[0], int(r[1])) for r in rows)
    missing = sorted(set(unique) - found.keys())
    if missing:
        raise NotFoundError(f"unknown locations: {missing[:5]}")
    return found


class SqliteDirectory:
    """Probes, users and settings (:class:`~cloudperf_core.ports.Directory`), and the
    read/write plumbing :class:`SqliteCatalog` builds on."""

    def __init__(self, db: SqliteDatabase, *, owns_db: bool = True) -> None:
        self._db = db
        self._owns_db = owns_db

    async def _read(self, doing: str, body: Callable[[Conn], T]) -> T:
        return await self._db.run(body, doing)

    async def _write(self, doing: str, body: Callable[[Conn], T]) -> T:
        def tx(conn: Conn) -> T:
            with write_tx(conn):
                return body(conn)

        return await self._db.run(tx, doing)

    # --- probes, users, settings -----------------------------------------------------------

    async def put_probe(self, probe: Probe) -> None:
        check_probe(probe)

        def body(conn: Conn) -> None:
            location_id = (
                None
                if probe.location is None
                else location_ids(conn, [probe.location])[probe.location]
            )
            conn.execute(
                q.UPSERT_PROBE,
                (
                    probe.probe_id,
                    probe.token_hash,
                    probe.name,
                    location_id,
                    int(probe.enabled),
                    probe.created_at_ms,
                    probe.last_seen_ms,
                ),
            )

        await self._write("putting a probe", body)

    async def get_probe(self, probe_id: str) -> Probe | None:
        def body(conn: Conn) -> Probe | None:
            row = conn.execute(q.GET_PROBE, (probe_id,)).fetchone()
            return None if row is None else probe_from_row(row)

        return await self._read("reading a probe", body)

    async def list_probes(self, *, after: str | None = None, limit: int = 100) -> list[Probe]:
        check_limit(limit)

        def body(conn: Conn) -> list[Probe]:
            return [probe_from_row(r) for r in conn.execute(q.LIST_PROBES, (after or "", limit))]

        return await self._read("listing probes", body)

    async def touch_probe(self, probe_id: str, at_ms: int) -> None:
        def body(conn: Conn) -> None:
            if conn.execute(q.TOUCH_PROBE, (at_ms, at_ms, probe_id)).rowcount == 0:
                raise NotFoundError(f"no probe {probe_id!r}")

        await self._write("touching a probe", body)

    async def put_user(self, user: User) -> None:
        check_user(user)
        params = (user.name, user.password_hash, user.role)
        await self._write("putting a user", lambda conn: conn.execute(q.UPSERT_USER, params))

    async def get_user(self, name: str) -> User | None:
        def body(conn: Conn) -> User | None:
            row = conn.execute(q.GET_USER, (name,)).fetchone()
            return None if row is None else user_from_row(row)

        return await self._read("reading a user", body)

    async def list_users(self, *, after: str | None = None, limit: int = 100) -> list[User]:
        check_limit(limit)

        def body(conn: Conn) -> list[User]:
            return [user_from_row(r) for r in conn.execute(q.LIST_USERS, (after or "", limit))]

        return await self._read("listing users", body)

    async def delete_user(self, name: str) -> bool:
        def body(conn: Conn) -> bool:
            return conn.execute(q.DELETE_USER, (name,)).rowcount > 0

        return await self._write("deleting a user", body)

    async def get_settings(self) -> Settings:
        def body(conn: Conn) -> Settings:
            row = conn.execute(q.GET_SETTINGS, (SETTINGS_KEY,)).fetchone()
            return settings_from_body(None if row is None else row[0])

        return await self._read("reading settings", body)

    async def put_settings(self, settings: Settings) -> None:
        params = (SETTINGS_KEY, _settings_encoder.encode(settings))
        await self._write("writing settings", lambda conn: conn.execute(q.UPSERT_SETTINGS, params))

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()
