"""Probes, users and settings of the Aurora catalogue, and the plumbing it shares.

:class:`AuroraDirectory` runs every method as one transaction through
:meth:`adapters.aurora.db.Database.run` behind the schema gate; :class:`AuroraCatalog`
(``adapters.aurora.catalog``) extends it with places and discovery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

import msgspec

from adapters.aurora import catalog_sql as q
from adapters.aurora import migrate as aurora_migrate
from adapters.aurora.db import Database, Tx, dialect
from adapters.aurora.sql import in_list
from adapters.catalog_rows import (
    SETTINGS_KEY,
    probe_from_row,
    settings_from_body,
    user_from_row,
)
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import Probe, Settings, User, check_limit, check_probe, check_user
from cloudperf_core.errors import NotFoundError

__all__ = ["CHUNK_ROWS", "AuroraDirectory", "location_ids"]

T = TypeVar("T")
CHUNK_ROWS = 1000
_settings_encoder = msgspec.json.Encoder()


async def location_ids(cur: Tx, names: Collection[str]) -> dict[str, int]:
    """name -> id of every named location; NotFoundError naming the unknown ones."""
    unique = list(dict.fromkeys(names))
    found: dict[str, int] = {}
    for chunk in chunks(unique, CHUNK_ROWS):
        await cur.execute(in_list(q.SELECT_LOCATION_IDS, len(chunk)), list(chunk))
        found.update((r[0], int(r[1])) for r in await cur.fetchall())
    missing = sorted(set(unique) - found.keys())
    if missing:
        raise NotFoundError(f"unknown locations: {missing[:5]}")
    return found


class AuroraDirectory:
    """Probes, users and settings (:class:`~cloudperf_core.ports.Directory`), and the
    schema gate and transaction plumbing :class:`AuroraCatalog` builds on."""

    def __init__(
        self, db: Database, gate: aurora_migrate.SchemaGate | None = None, *, owns_db: bool = True
    ) -> None:
        self._db = db
        self._gate = gate or aurora_migrate.SchemaGate(db)
        self._owns_db = owns_db

    async def migrate(self) -> list[int]:
        return await self._gate.migrate()

    async def schema_version(self) -> int:
        return await aurora_migrate.schema_version(self._db)

    async def _run(self, what: str, body: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        await self._gate.require()
        return await self._db.run(what, body, write=write, retry_duplicate_key=write)

    async def _rows(self, what: str, stmt: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        async def body(cur: Tx) -> list[Sequence[Any]]:
            await cur.execute(stmt, params)
            return list(await cur.fetchall())

        return await self._run(what, body, write=False)

    # --- probes, users, settings -----------------------------------------------------------

    async def put_probe(self, probe: Probe) -> None:
        check_probe(probe)

        async def body(cur: Tx) -> None:
            location_id = None
            if probe.location is not None:
                location_id = (await location_ids(cur, [probe.location]))[probe.location]
            await cur.execute(
                q.UPSERT_PROBE[dialect(cur)],
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

        await self._run("put probe", body, write=True)

    async def get_probe(self, probe_id: str) -> Probe | None:
        rows = await self._rows("get probe", q.GET_PROBE, (probe_id,))
        return probe_from_row(rows[0]) if rows else None

    async def list_probes(self, *, after: str | None = None, limit: int = 100) -> list[Probe]:
        rows = await self._rows("list probes", q.LIST_PROBES, (after or "", check_limit(limit)))
        return [probe_from_row(r) for r in rows]

    async def touch_probe(self, probe_id: str, at_ms: int) -> None:
        async def body(cur: Tx) -> None:
            # Not the UPDATE's row count: MySQL counts changed rows, so an equal time gives 0.
            await cur.execute(q.PROBE_EXISTS, (probe_id,))
            if await cur.fetchone() is None:
                raise NotFoundError(f"no probe {probe_id!r}")
            await cur.execute(q.TOUCH_PROBE, (at_ms, at_ms, probe_id))

        await self._run("touch probe", body, write=True)

    async def put_user(self, user: User) -> None:
        check_user(user)

        async def body(cur: Tx) -> None:
            await cur.execute(
                q.UPSERT_USER[dialect(cur)], (user.name, user.password_hash, user.role)
            )

        await self._run("put user", body, write=True)

    async def get_user(self, name: str) -> User | None:
        rows = await self._rows("get user", q.GET_USER, (name,))
        return user_from_row(rows[0]) if rows else None

    async def list_users(self, *, after: str | None = None, limit: int = 100) -> list[User]:
        rows = await self._rows("list users", q.LIST_USERS, (after or "", check_limit(limit)))
        return [user_from_row(r) for r in rows]

    async def delete_user(self, name: str) -> bool:
        async def body(cur: Tx) -> bool:
            return int(await cur.execute(q.DELETE_USER, (name,))) > 0

        return await self._run("delete user", body, write=True)

    async def get_settings(self) -> Settings:
        rows = await self._rows("get settings", q.GET_SETTINGS, (SETTINGS_KEY,))
        return settings_from_body(rows[0][0] if rows else None)

    async def put_settings(self, settings: Settings) -> None:
        body_bytes = _settings_encoder.encode(settings)

        async def body(cur: Tx) -> None:
            await cur.execute(q.UPSERT_SETTINGS[dialect(cur)], (SETTINGS_KEY, body_bytes))

        await self._run("put settings", body, write=True)

    async def close(self) -> None:
        if self._owns_db:
            await self._db.close()
