"""The Catalog port over Aurora MySQL / MySQL 8 / MariaDB 10.11 (schema: migrations 0001-0002).

Imports are multi-row statements (1000 rows each); ``locate_many`` is one UNION ALL of
indexed probes per few hundred addresses; every method is one transaction through
:meth:`adapters.aurora.db.Database.run` (retries on transient errors, driver errors mapped).
The discovery history rule runs as SQL (``catalog_sql``: shift, upsert found with bit 3,
delete zeros), the same rule as :func:`cloudperf_core.catalog.sweep_histories`.

>>> catalog = await open_backend("mysql://root@127.0.0.1/cloudperf", "catalog")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from adapters.aurora import catalog_sql as q
from adapters.aurora.db import Tx, dialect
from adapters.aurora.directory import CHUNK_ROWS, AuroraDirectory, location_ids
from adapters.aurora.sql import in_list, union_all, values_rows
from adapters.catalog_rows import (
    after_address,
    city_matches,
    location_from_row,
    location_params,
    packed,
    place_from_row,
    places_after,
    range_from_row,
    status_from_counts,
    unpacked,
)
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import (
    HISTORY_FOUND,
    AddressRange,
    CatalogStatus,
    DiscoverySweep,
    Group,
    Location,
    LocationFilter,
    ReachableAddress,
    check_limit,
    checked_group,
    checked_location,
    checked_sweep,
    like_pattern,
    range_bounds,
    search_terms,
)
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.places import PlaceKind, PlaceSummary

__all__ = ["AuroraCatalog"]

_LOCATE_CHUNK = 300


class AuroraCatalog(AuroraDirectory):
    """:class:`~cloudperf_core.ports.Catalog` (and Migratable) over a :class:`Database`:
    places and discovery here, probes, users and settings in :class:`AuroraDirectory`.

    ``AuroraMeasurementStore.catalog`` shares the store's pool; ``open_backend(url,
    "catalog")`` opens one with its own pool.
    """

    # --- locations -------------------------------------------------------------------------

    async def put_locations(self, locations: Sequence[Location]) -> dict[str, int]:
        rows = [location_params(checked_location(loc)) for loc in locations]

        async def body(cur: Tx) -> dict[str, int]:
            for chunk in chunks(rows, CHUNK_ROWS):
                stmt = values_rows(q.UPSERT_LOCATIONS[dialect(cur)], len(chunk), 9)
                await cur.execute(stmt, [v for row in chunk for v in row])
            return await location_ids(cur, [r[0] for r in rows])

        return await self._run("import locations", body, write=True) if rows else {}

    async def get_location(self, name: str) -> Location | None:
        rows = await self._rows("get location", q.GET_LOCATION, (name,))
        return location_from_row(rows[0]) if rows else None

    async def locations_by_id(self, location_ids: Collection[int]) -> dict[int, Location]:
        ids = sorted(set(location_ids))

        async def body(cur: Tx) -> dict[int, Location]:
            out: dict[int, Location] = {}
            for chunk in chunks(ids, CHUNK_ROWS):
                await cur.execute(in_list(q.LOCATIONS_BY_ID, len(chunk)), list(chunk))
                out.update((int(r[0]), location_from_row(r)) for r in await cur.fetchall())
            return out

        return await self._run("locations by id", body, write=False) if ids else {}

    async def list_locations(self, *, after: str | None = None, limit: int = 100) -> list[Location]:
        rows = await self._rows(
            "list locations", q.LIST_LOCATIONS, (after or "", check_limit(limit))
        )
        return [location_from_row(r) for r in rows]

    async def find_locations(self, where: LocationFilter) -> list[Location]:
        if where.is_nothing():
            return []
        stmt, params = q.FIND_LOCATIONS, list[Any]()
        countries = None if where.countries is None else [c.upper() for c in where.countries]
        cities = None if where.cities is None else [c.split("/", 1)[-1] for c in where.cities]
        for values, clause in (
            (where.names, q.AND_NAME_IN),
            (countries, q.AND_COUNTRY_IN),
            (cities, q.AND_CITY_IN),
            (where.asns, q.AND_ASN_IN),
            (where.groups, q.AND_GROUP_IN),
        ):
            if values is not None:
                stmt += in_list(clause, len(values))
                params.extend(values)
        rows = await self._rows("find locations", stmt + q.ORDER_BY_NAME, params)
        return [loc for loc in map(location_from_row, rows) if city_matches(loc, where.cities)]

    async def search(
        self, text: str, *, after: str | None = None, limit: int = 20
    ) -> list[Location]:
        check_limit(limit)
        terms = search_terms(text)
        if not terms:
            return []
        stmt = q.SEARCH + q.AND_SEARCH_TERM * len(terms) + q.ORDER_BY_NAME_LIMIT
        params = [after or "", *(like_pattern(t) for t in terms), limit]
        return [location_from_row(r) for r in await self._rows("search", stmt, params)]

    async def list_places(
        self, kind: PlaceKind, *, after: str | None = None, limit: int = 100
    ) -> list[PlaceSummary]:
        params = (*places_after(kind, after), check_limit(limit))
        rows = await self._rows("list places", q.LIST_PLACES[kind], params)
        return [place_from_row(kind, r) for r in rows]

    # --- ranges ----------------------------------------------------------------------------

    async def put_ranges(self, ranges: Sequence[AddressRange]) -> int:
        checked = [(range_bounds(r.start, r.end), r.location) for r in ranges]

        async def body(cur: Tx) -> int:
            ids = await location_ids(cur, {name for _, name in checked})
            for chunk in chunks(checked, CHUNK_ROWS):
                params = [
                    v
                    for (ver, lo, hi), name in chunk
                    for v in (ver, lo.packed, hi.packed, ids[name])
                ]
                await cur.execute(values_rows(q.UPSERT_RANGES[dialect(cur)], len(chunk), 4), params)
            return len(checked)

        return await self._run("import ranges", body, write=True) if checked else 0

    async def list_ranges(
        self, *, location: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[AddressRange]:
        check_limit(limit)
        stmt, params = q.LIST_RANGES, list[Any](after_address(after))
        if location is not None:
            stmt += q.AND_RANGE_OF_LOCATION
            params.append(location)
        params.append(limit)
        return [
            range_from_row(r)
            for r in await self._rows("list ranges", stmt + q.ORDER_RANGES, params)
        ]

    async def locate(self, address: str) -> Location | None:
        packed(address)  # InvalidSpecError for a non-address, as the port says
        return (await self.locate_many([address])).get(address)

    async def locate_many(self, addresses: Sequence[str]) -> dict[str, Location]:
        keys: list[tuple[str, tuple[int, bytes]]] = []
        for text in dict.fromkeys(addresses):
            try:
                keys.append((text, packed(text)))
            except InvalidSpecError:
                continue  # a hostname is never in a range

        async def body(cur: Tx) -> dict[str, Location]:
            found: dict[str, Location] = {}
            for chunk in chunks(keys, _LOCATE_CHUNK):
                params = [v for _, (ver, addr) in chunk for v in (ver, addr, ver, addr)]
                await cur.execute(union_all(q.LOCATE_ONE, len(chunk)), params)
                hits = {(int(r[0]), bytes(r[1])): r for r in await cur.fetchall()}
                for text, key in chunk:
                    row = hits.get(key)
                    if row is not None and key[1] <= bytes(row[2]):
                        found[text] = location_from_row(row[3:])
            return found

        return await self._run("locate", body, write=False) if keys else {}

    # --- groups ----------------------------------------------------------------------------

    async def list_groups(self) -> list[Group]:
        async def body(cur: Tx) -> list[Group]:
            await cur.execute(q.LIST_GROUPS)
            members: dict[str, list[str]] = {r[0]: [] for r in await cur.fetchall()}
            await cur.execute(q.ALL_MEMBERS)
            for group_name, location in await cur.fetchall():
                members[group_name].append(location)
            return [Group(name=n, locations=tuple(locs)) for n, locs in members.items()]

        return await self._run("list groups", body, write=False)

    async def get_group(self, name: str) -> Group | None:
        async def body(cur: Tx) -> Group | None:
            await cur.execute(q.GET_GROUP, (name,))
            if await cur.fetchone() is None:
                return None
            await cur.execute(q.MEMBERS, (name,))
            return Group(name=name, locations=tuple(r[0] for r in await cur.fetchall()))

        return await self._run("get group", body, write=False)

    async def set_group(self, group: Group) -> None:
        group = checked_group(group)

        async def body(cur: Tx) -> None:
            ids = await location_ids(cur, group.locations)
            await cur.execute(q.INSERT_GROUP, (group.name,))
            await cur.execute(q.DELETE_MEMBERS, (group.name,))
            for chunk in chunks(list(ids.values()), CHUNK_ROWS):
                params = [v for lid in chunk for v in (group.name, lid)]
                await cur.execute(values_rows(q.INSERT_MEMBERS, len(chunk), 2), params)

        await self._run("set group", body, write=True)

    async def delete_group(self, name: str) -> bool:
        async def body(cur: Tx) -> bool:
            await cur.execute(q.DELETE_MEMBERS, (name,))
            return int(await cur.execute(q.DELETE_GROUP, (name,))) > 0

        return await self._run("delete group", body, write=True)

    # --- discovery -------------------------------------------------------------------------

    async def record_sweep(self, sweep: DiscoverySweep) -> bool:
        version, lo, hi, found = checked_sweep(sweep)
        span = (version, lo.packed, hi.packed)

        async def body(cur: Tx) -> bool:
            await cur.execute(q.SWEEP_SEEN, (sweep.report_id,))
            if await cur.fetchone() is not None:
                return False
            # A concurrent recorder of the same id fails on this insert's key and retries.
            await cur.execute(q.INSERT_SWEEP, (sweep.report_id, sweep.at_ms))
            await cur.execute(q.SHIFT_HISTORY, span)
            for chunk in chunks(found, CHUNK_ROWS):
                params = [v for a in chunk for v in (version, a.packed, 0b1000, sweep.at_ms)]
                await cur.execute(values_rows(q.UPSERT_FOUND[dialect(cur)], len(chunk), 4), params)
            await cur.execute(q.FORGET_SILENT, span)
            at = sweep.at_ms
            await cur.execute(q.TOUCH_RANGES, (at, at, version, hi.packed, lo.packed))
            return True

        return await self._run("record sweep", body, write=True)

    async def ranges_due(self, *, checked_before_ms: int, limit: int = 100) -> list[AddressRange]:
        params = (checked_before_ms, checked_before_ms, check_limit(limit))
        return [range_from_row(r) for r in await self._rows("ranges due", q.RANGES_DUE, params)]

    async def mark_ranges_queued(self, starts: Sequence[str], at_ms: int) -> None:
        by_version: dict[int, set[bytes]] = {}
        for version, addr in map(packed, starts):
            by_version.setdefault(version, set()).add(addr)

        async def body(cur: Tx) -> None:
            for version, addrs in by_version.items():
                for chunk in chunks(sorted(addrs), CHUNK_ROWS):
                    await cur.execute(in_list(q.MARK_QUEUED, len(chunk)), [at_ms, version, *chunk])

        if by_version:
            await self._run("mark ranges queued", body, write=True)

    async def reachable_addresses(
        self, location: str, *, after: str | None = None, limit: int = 100
    ) -> list[ReachableAddress]:
        check_limit(limit)
        keyset = after_address(after)

        async def body(cur: Tx) -> list[ReachableAddress]:
            (location_id,) = (await location_ids(cur, [location])).values()
            await cur.execute(q.REACHABLE_OF_LOCATION, (location_id, *keyset, limit))
            return [
                ReachableAddress(address=unpacked(r[1]), history=int(r[2]), last_seen_ms=int(r[3]))
                for r in await cur.fetchall()
            ]

        return await self._run("reachable addresses", body, write=False)

    async def reachable_locations(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        params = (after or "", HISTORY_FOUND, check_limit(limit))

        async def body(cur: Tx) -> list[str]:
            await cur.execute(q.REACHABLE_LOCATIONS, params)
            return [str(r[0]) for r in await cur.fetchall()]

        return await self._run("reachable locations", body, write=False)

    async def status(self, *, fresh_since_ms: int) -> CatalogStatus:
        async def body(cur: Tx) -> CatalogStatus:
            async def one(stmt: str, *params: Any) -> Any:
                await cur.execute(stmt, params)
                return await cur.fetchone()

            return status_from_counts(
                (await one(q.COUNT_LOCATIONS))[0],
                await one(q.RANGE_COUNTS, fresh_since_ms),
                await one(q.ADDRESS_COUNTS),
                await one(q.PROBE_COUNTS),
                (await one(q.COUNT_USERS))[0],
                (await one(q.COUNT_GROUPS))[0],
            )

        return await self._run("catalogue status", body, write=False)


if TYPE_CHECKING:  # mypy proves the catalogue satisfies its ports; nothing runs here
    from cloudperf_core.ports import Catalog, Migratable

    def _conforms(catalog: AuroraCatalog) -> tuple[Catalog, Migratable]:
        return (catalog, catalog)
