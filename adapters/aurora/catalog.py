"""Catalogue and queries beyond the MeasurementStore port, for the Aurora MySQL adapter.

Locations and address ranges (imported in multi-row statements), address -> location,
search by ASN or name, the 4-round discovery history, probes and users (hashes only: the core
hashes, this stores the string), location groups, stats grouped by destination ASN / city /
location, and retention (:mod:`adapters.aurora.retention`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import msgspec

from adapters.aurora import catalog_sql as csql
from adapters.aurora import sql
from adapters.aurora.db import Database, Tx
from adapters.aurora.retention import RetentionPolicy, RetentionResult, apply_retention
from adapters.window_rows import window_from_row
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import LatencyStats, WindowAggregate
from cloudperf_core.windows.aggregate import summarize

__all__ = [
    "AddressRange",
    "AuroraCatalog",
    "DestGroupBy",
    "DestGroupStats",
    "Location",
    "Probe",
    "User",
]

DestGroupBy = Literal["pair", "asn", "city", "location", "overall"]
_CHUNK_ROWS = 1000
_HISTORY_NEW = 0b1000


class Location(msgspec.Struct, kw_only=True):
    """A place addresses belong to; ``name`` is unique (e.g. ``AS13335 Sydney``)."""

    name: str
    country: str | None = None
    city: str | None = None
    asn: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_id: int | None = None


class AddressRange(msgspec.Struct, frozen=True, kw_only=True):
    """An inclusive IPv4 or IPv6 range ``start``..``end`` belonging to ``location``."""

    start: str
    end: str
    location: str


class Probe(msgspec.Struct, kw_only=True):
    probe_id: str
    token_hash: str
    role: str
    location: str | None = None
    last_seen_s: int | None = None


class User(msgspec.Struct, kw_only=True):
    user_name: str
    password_hash: str
    role: str


class DestGroupStats(msgspec.Struct, kw_only=True):
    """Merged stats of one group; ``key`` is the target, ``AS<n>``, ``CC/City``, location."""

    source: str | None
    key: str | None
    stats: LatencyStats
    windows: int = 0


def _packed(text: str) -> tuple[int, bytes]:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidSpecError(f"not an IP address: {text!r}") from exc
    return addr.version, addr.packed


def _location(row: Sequence[Any]) -> Location:
    return Location(
        location_id=int(row[0]),
        name=row[1],
        country=row[2],
        city=row[3],
        asn=None if row[4] is None else int(row[4]),
        latitude=row[5],
        longitude=row[6],
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AuroraCatalog:
    """Everything the catalogue, the API and the scheduler need besides window ingest."""

    def __init__(self, db: Database, require_schema: Callable[[], Awaitable[None]]) -> None:
        self._db = db
        self._require_schema = require_schema

    async def _run(self, what: str, body: Callable[[Tx], Awaitable[Any]], write: bool) -> Any:
        await self._require_schema()
        return await self._db.run(what, body, write=write)

    # --- locations and ranges --------------------------------------------------------------

    async def import_locations(self, locations: Sequence[Location]) -> dict[str, int]:
        """Insert or update locations by name; returns name -> location_id."""

        async def body(cur: Tx) -> dict[str, int]:
            for i in range(0, len(locations), _CHUNK_ROWS):
                chunk = locations[i : i + _CHUNK_ROWS]
                params = [
                    v
                    for loc in chunk
                    for v in (loc.name, loc.country, loc.city, loc.asn, loc.latitude, loc.longitude)
                ]
                await cur.execute(sql.values_rows(csql.UPSERT_LOCATIONS, len(chunk), 6), params)
            return await _location_ids(cur, [loc.name for loc in locations])

        return dict(await self._run("import locations", body, write=True))

    async def import_ranges(self, ranges: Sequence[AddressRange]) -> int:
        """Insert or update address ranges (their locations must exist); returns the count."""
        packed = []
        for r in ranges:
            (v1, start), (v2, end) = _packed(r.start), _packed(r.end)
            if v1 != v2 or start > end:
                raise InvalidSpecError(f"bad range {r.start}..{r.end}")
            packed.append((v1, start, end, r.location))

        async def body(cur: Tx) -> int:
            ids = await _location_ids(cur, list({p[3] for p in packed}))
            missing = {p[3] for p in packed} - ids.keys()
            if missing:
                raise InvalidSpecError(f"unknown locations: {sorted(missing)[:5]}")
            for i in range(0, len(packed), _CHUNK_ROWS):
                chunk = packed[i : i + _CHUNK_ROWS]
                params = [v for (ver, s, e, name) in chunk for v in (ver, s, e, ids[name])]
                await cur.execute(sql.values_rows(csql.UPSERT_RANGES, len(chunk), 4), params)
            return len(packed)

        return int(await self._run("import ranges", body, write=True))

    async def locate(self, address: str) -> Location | None:
        """The location whose range contains ``address``, or ``None``."""
        version, packed = _packed(address)

        async def body(cur: Tx) -> Location | None:
            await cur.execute(csql.LOCATE, (version, packed))
            row = await cur.fetchone()
            return _location(row) if row is not None and packed <= bytes(row[7]) else None

        result: Location | None = await self._run("locate", body, write=False)
        return result

    async def search_locations(
        self, *, asn: int | None = None, name: str | None = None, limit: int = 100
    ) -> list[Location]:
        """Locations with this ASN and/or whose name contains ``name`` (case-sensitive)."""
        stmt, params = csql.SELECT_LOCATIONS, list[Any]()
        if asn is not None:
            stmt += csql.AND_ASN
            params.append(asn)
        if name is not None:
            stmt += csql.AND_NAME_LIKE
            params.append(f"%{_like_escape(name)}%")
        stmt += csql.ORDER_LOCATIONS
        params.append(limit)

        async def body(cur: Tx) -> list[Location]:
            await cur.execute(stmt, params)
            return [_location(r) for r in await cur.fetchall()]

        return list(await self._run("search locations", body, write=False))

    async def set_group(self, group_name: str, location_names: Sequence[str]) -> None:
        """Make ``group_name`` hold exactly these locations."""

        async def body(cur: Tx) -> None:
            ids = await _location_ids(cur, location_names)
            await cur.execute(csql.DELETE_GROUP, (group_name,))
            if ids:
                params = [v for lid in ids.values() for v in (group_name, lid)]
                await cur.execute(sql.values_rows(csql.INSERT_GROUP, len(ids), 2), params)

        await self._run("set group", body, write=True)

    async def group_locations(self, group_name: str) -> list[str]:
        async def body(cur: Tx) -> list[str]:
            await cur.execute(csql.SELECT_GROUP, (group_name,))
            return [r[0] for r in await cur.fetchall()]

        return list(await self._run("group", body, write=False))

    # --- discovery -------------------------------------------------------------------------

    async def record_discovery(
        self, start: str, end: str, found: Sequence[str], now_s: int
    ) -> None:
        """One discovery round over ``start``..``end``: shift every known address's history
        and set the newest bit for the ones found (1000b new, 1111b stable); drop zeros."""
        (version, lo), (_, hi) = _packed(start), _packed(end)
        seen = [_packed(a) for a in dict.fromkeys(found)]

        async def body(cur: Tx) -> None:
            await cur.execute(csql.SHIFT_HISTORY, (version, lo, hi))
            for i in range(0, len(seen), _CHUNK_ROWS):
                chunk = seen[i : i + _CHUNK_ROWS]
                params = [v for (ver, a) in chunk for v in (ver, a, _HISTORY_NEW, now_s)]
                await cur.execute(sql.values_rows(csql.UPSERT_SEEN, len(chunk), 4), params)
            await cur.execute(csql.DELETE_DEAD, (version, lo, hi))
            await cur.execute(csql.TOUCH_RANGES, (now_s, version, lo, hi))

        await self._run("record discovery", body, write=True)

    async def reachable(self, start: str, end: str) -> dict[str, int]:
        """address -> 4-bit history for the tracked addresses in ``start``..``end``."""
        (version, lo), (_, hi) = _packed(start), _packed(end)

        async def body(cur: Tx) -> dict[str, int]:
            await cur.execute(csql.SELECT_REACHABLE, (version, lo, hi))
            rows = await cur.fetchall()
            return {str(ipaddress.ip_address(bytes(r[0]))): int(r[1]) for r in rows}

        return dict(await self._run("reachable", body, write=False))

    # --- probes and users ------------------------------------------------------------------

    async def put_probe(self, probe: Probe) -> None:
        async def body(cur: Tx) -> None:
            await cur.execute(
                csql.UPSERT_PROBE,
                (probe.probe_id, probe.token_hash, probe.location, probe.role, probe.last_seen_s),
            )

        await self._run("put probe", body, write=True)

    async def get_probe(self, probe_id: str) -> Probe | None:
        async def body(cur: Tx) -> Probe | None:
            await cur.execute(csql.SELECT_PROBE, (probe_id,))
            r = await cur.fetchone()
            return (
                None
                if r is None
                else Probe(
                    probe_id=r[0], token_hash=r[1], role=r[2], location=r[3], last_seen_s=r[4]
                )
            )

        result: Probe | None = await self._run("get probe", body, write=False)
        return result

    async def touch_probe(self, probe_id: str, now_s: int) -> None:
        async def body(cur: Tx) -> None:
            await cur.execute(csql.TOUCH_PROBE, (now_s, probe_id))

        await self._run("touch probe", body, write=True)

    async def put_user(self, user: User) -> None:
        async def body(cur: Tx) -> None:
            await cur.execute(csql.UPSERT_USER, (user.user_name, user.password_hash, user.role))

        await self._run("put user", body, write=True)

    async def get_user(self, user_name: str) -> User | None:
        async def body(cur: Tx) -> User | None:
            await cur.execute(csql.SELECT_USER, (user_name,))
            r = await cur.fetchone()
            return None if r is None else User(user_name=r[0], password_hash=r[1], role=r[2])

        result: User | None = await self._run("get user", body, write=False)
        return result

    # --- grouped stats and retention -------------------------------------------------------

    async def query_stats(
        self,
        *,
        sources: Sequence[str] | None = None,
        destinations: Sequence[str] | None = None,
        since_s: int | None = None,
        until_s: int | None = None,
        group_by: DestGroupBy = "pair",
    ) -> list[DestGroupStats]:
        """Merged stats of sources x destinations (targets) in ``[since_s, until_s)``,
        grouped by pair, destination ASN, city, location, or overall (sketches merged)."""
        if group_by not in ("pair", "asn", "city", "location", "overall"):
            raise InvalidSpecError(f"unknown grouping {group_by!r}")
        if sources == [] or destinations == []:
            return []
        stmt, params = csql.SELECT_WINDOWS_WITH_DEST, list[Any]()
        if sources is not None:
            stmt += sql.in_list(csql.AND_M_SOURCE_IN, len(sources))
            params.extend(sources)
        if destinations is not None:
            stmt += sql.in_list(csql.AND_M_TARGET_IN, len(destinations))
            params.extend(destinations)
        if since_s is not None:
            stmt += csql.AND_M_SINCE
            params.append(since_s)
        if until_s is not None:
            stmt += csql.AND_M_UNTIL
            params.append(until_s)

        async def body(cur: Tx) -> list[Sequence[Any]]:
            await cur.execute(stmt, params)
            return list(await cur.fetchall())

        groups: dict[tuple[str | None, str | None], list[WindowAggregate]] = {}
        for row in await self._run("query stats", body, write=False):
            w = window_from_row(row)
            asn, country, city, loc = row[14], row[15], row[16], row[17]
            key: tuple[str | None, str | None] = {
                "pair": (w.source, w.target),
                "asn": (None, None if asn is None else f"AS{asn}"),
                "city": (None, None if city is None else f"{country or ''}/{city}"),
                "location": (w.source, loc),
                "overall": (None, None),
            }[group_by]
            groups.setdefault(key, []).append(w)
        return [
            DestGroupStats(source=k[0], key=k[1], stats=summarize(ws), windows=len(ws))
            for k, ws in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))
        ]

    async def apply_retention(
        self, now_s: int, policy: RetentionPolicy | None = None
    ) -> RetentionResult:
        """Roll old windows up into coarser ones (sketches merged); expire the coarsest."""
        await self._require_schema()
        return await apply_retention(self._db, now_s, policy or RetentionPolicy())


async def _location_ids(cur: Tx, names: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(names))
    for i in range(0, len(unique), _CHUNK_ROWS):
        chunk = unique[i : i + _CHUNK_ROWS]
        await cur.execute(sql.in_list(csql.SELECT_LOCATION_IDS, len(chunk)), chunk)
        found.update((r[0], int(r[1])) for r in await cur.fetchall())
    return found
