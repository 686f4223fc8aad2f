"""The Catalog port in the embedded SQLite file (the store's database, or one of its own).

Each method is one call on the worker thread; writes are one transaction each. The discovery
history is computed with :func:`cloudperf_core.catalog.sweep_histories` over the rows read
under the write lock, so SQLite and the in-memory catalogue share the rule's one definition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

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
from adapters.sqlite import catalog_sql as q
from adapters.sqlite.db import marks
from adapters.sqlite.directory import Conn, SqliteDirectory, location_ids
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
    sweep_histories,
)
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.places import PlaceKind, PlaceSummary

__all__ = ["SqliteCatalog"]


class SqliteCatalog(SqliteDirectory):
    """:class:`~cloudperf_core.ports.Catalog` over a :class:`SqliteDatabase`: places and
    discovery here, probes, users and settings in :class:`SqliteDirectory`."""

    # --- locations -------------------------------------------------------------------------

    async def put_locations(self, locations: Sequence[Location]) -> dict[str, int]:
        rows = [location_params(checked_location(loc)) for loc in locations]

        def body(conn: Conn) -> dict[str, int]:
            conn.executemany(q.UPSERT_LOCATION, rows)
            return location_ids(conn, [r[0] for r in rows])

        return await self._write("importing locations", body)

    async def get_location(self, name: str) -> Location | None:
        def body(conn: Conn) -> Location | None:
            row = conn.execute(q.GET_LOCATION, (name,)).fetchone()
            return None if row is None else location_from_row(row)

        return await self._read("reading a location", body)

    async def locations_by_id(self, location_ids: Collection[int]) -> dict[int, Location]:
        ids = list(set(location_ids))

        def body(conn: Conn) -> dict[int, Location]:
            out: dict[int, Location] = {}
            for chunk in chunks(ids, 500):
                for row in conn.execute(q.LOCATIONS_BY_ID.format(marks=marks(len(chunk))), chunk):
                    loc = location_from_row(row)
                    out[int(row[0])] = loc
            return out

        return await self._read("reading locations", body) if ids else {}

    async def list_locations(self, *, after: str | None = None, limit: int = 100) -> list[Location]:
        check_limit(limit)

        def body(conn: Conn) -> list[Location]:
            rows = conn.execute(q.LIST_LOCATIONS, (after or "", limit))
            return [location_from_row(r) for r in rows]

        return await self._read("listing locations", body)

    async def find_locations(self, where: LocationFilter) -> list[Location]:
        if where.is_nothing():
            return []
        sql, params = q.FIND_LOCATIONS, list[Any]()
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
                sql += clause.format(marks=marks(len(values)))
                params.extend(values)

        def body(conn: Conn) -> list[Location]:
            found = [location_from_row(r) for r in conn.execute(sql + q.ORDER_BY_NAME, params)]
            return [loc for loc in found if city_matches(loc, where.cities)]

        return await self._read("finding locations", body)

    async def search(
        self, text: str, *, after: str | None = None, limit: int = 20
    ) -> list[Location]:
        check_limit(limit)
        terms = search_terms(text)
        if not terms:
            return []
        sql = q.SEARCH + q.AND_SEARCH_TERM * len(terms) + q.ORDER_BY_NAME_LIMIT
        params = [after or "", *(like_pattern(t) for t in terms), limit]

        def body(conn: Conn) -> list[Location]:
            return [location_from_row(r) for r in conn.execute(sql, params)]

        return await self._read("searching locations", body)

    async def list_places(
        self, kind: PlaceKind, *, after: str | None = None, limit: int = 100
    ) -> list[PlaceSummary]:
        params = (*places_after(kind, after), check_limit(limit))
        stmt = q.LIST_PLACES[kind]

        def body(conn: Conn) -> list[PlaceSummary]:
            return [place_from_row(kind, r) for r in conn.execute(stmt, params)]

        return await self._read("listing places", body)

    # --- ranges ----------------------------------------------------------------------------

    async def put_ranges(self, ranges: Sequence[AddressRange]) -> int:
        checked = [(range_bounds(r.start, r.end), r.location) for r in ranges]

        def body(conn: Conn) -> int:
            ids = location_ids(conn, {name for _, name in checked})
            conn.executemany(
                q.UPSERT_RANGE,
                [(v, lo.packed, hi.packed, ids[name]) for (v, lo, hi), name in checked],
            )
            return len(checked)

        return await self._write("importing ranges", body)

    async def list_ranges(
        self, *, location: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[AddressRange]:
        check_limit(limit)
        sql, params = q.LIST_RANGES, list[Any](after_address(after))
        if location is not None:
            sql += q.AND_RANGE_OF_LOCATION
            params.append(location)
        params.append(limit)

        def body(conn: Conn) -> list[AddressRange]:
            return [range_from_row(r) for r in conn.execute(sql + q.ORDER_RANGES, params)]

        return await self._read("listing ranges", body)

    async def locate(self, address: str) -> Location | None:
        key = packed(address)
        return (await self._read("locating", lambda conn: _locate(conn, [(address, key)]))).get(
            address
        )

    async def locate_many(self, addresses: Sequence[str]) -> dict[str, Location]:
        keys = []
        for text in dict.fromkeys(addresses):
            try:
                keys.append((text, packed(text)))
            except InvalidSpecError:  # a hostname is never in a range
                continue
        return await self._read("locating", lambda conn: _locate(conn, keys)) if keys else {}

    # --- groups ----------------------------------------------------------------------------

    async def list_groups(self) -> list[Group]:
        def body(conn: Conn) -> list[Group]:
            members: dict[str, list[str]] = {r[0]: [] for r in conn.execute(q.LIST_GROUPS)}
            for group_name, location in conn.execute(q.ALL_MEMBERS):
                members[group_name].append(location)
            return [Group(name=n, locations=tuple(locs)) for n, locs in members.items()]

        return await self._read("listing groups", body)

    async def get_group(self, name: str) -> Group | None:
        def body(conn: Conn) -> Group | None:
            if conn.execute(q.GET_GROUP, (name,)).fetchone() is None:
                return None
            return Group(name=name, locations=tuple(r[0] for r in conn.execute(q.MEMBERS, (name,))))

        return await self._read("reading a group", body)

    async def set_group(self, group: Group) -> None:
        group = checked_group(group)

        def body(conn: Conn) -> None:
            ids = location_ids(conn, group.locations)
            conn.execute(q.INSERT_GROUP, (group.name,))
            conn.execute(q.DELETE_MEMBERS, (group.name,))
            conn.executemany(q.INSERT_MEMBER, [(group.name, i) for i in ids.values()])

        await self._write("setting a group", body)

    async def delete_group(self, name: str) -> bool:
        def body(conn: Conn) -> bool:
            conn.execute(q.DELETE_MEMBERS, (name,))
            return conn.execute(q.DELETE_GROUP, (name,)).rowcount > 0

        return await self._write("deleting a group", body)

    # --- discovery -------------------------------------------------------------------------

    async def record_sweep(self, sweep: DiscoverySweep) -> bool:
        version, lo, hi, found = checked_sweep(sweep)

        def body(conn: Conn) -> bool:
            if conn.execute(q.SWEEP_SEEN, (sweep.report_id,)).fetchone() is not None:
                return False
            rows = conn.execute(q.TRACKED_IN, (version, lo.packed, hi.packed))
            tracked = {bytes(r[0]): int(r[1]) for r in rows}
            seen = [a.packed for a in found]
            answered = set(seen)
            histories = sweep_histories(tracked, seen)
            for addr, history in histories.items():
                if history == 0:
                    conn.execute(q.FORGET, (version, addr))
                elif addr not in answered:
                    conn.execute(q.SET_HISTORY, (history, version, addr))
            conn.executemany(
                q.UPSERT_FOUND, [(version, a, histories[a], sweep.at_ms) for a in seen]
            )
            at = sweep.at_ms
            conn.execute(q.TOUCH_RANGES, (at, at, version, hi.packed, lo.packed))
            conn.execute(q.INSERT_SWEEP, (sweep.report_id, at))
            return True

        return await self._write("recording a sweep", body)

    async def ranges_due(self, *, checked_before_ms: int, limit: int = 100) -> list[AddressRange]:
        check_limit(limit)
        params = (checked_before_ms, checked_before_ms, limit)

        def body(conn: Conn) -> list[AddressRange]:
            return [range_from_row(r) for r in conn.execute(q.RANGES_DUE, params)]

        return await self._read("listing due ranges", body)

    async def mark_ranges_queued(self, starts: Sequence[str], at_ms: int) -> None:
        keys = {packed(s) for s in starts}

        def body(conn: Conn) -> None:
            conn.executemany(q.MARK_QUEUED, [(at_ms, v, a) for v, a in keys])

        if keys:
            await self._write("marking ranges queued", body)

    async def reachable_addresses(
        self, location: str, *, after: str | None = None, limit: int = 100
    ) -> list[ReachableAddress]:
        check_limit(limit)
        keyset = after_address(after)

        def body(conn: Conn) -> list[ReachableAddress]:
            (location_id,) = location_ids(conn, [location]).values()
            rows = conn.execute(q.REACHABLE_OF_LOCATION, (location_id, *keyset, limit))
            return [
                ReachableAddress(address=unpacked(r[1]), history=int(r[2]), last_seen_ms=int(r[3]))
                for r in rows
            ]

        return await self._read("listing reachable addresses", body)

    async def reachable_locations(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        params = (after or "", HISTORY_FOUND, check_limit(limit))

        def body(conn: Conn) -> list[str]:
            return [str(r[0]) for r in conn.execute(q.REACHABLE_LOCATIONS, params)]

        return await self._read("listing reachable locations", body)

    async def status(self, *, fresh_since_ms: int) -> CatalogStatus:
        def body(conn: Conn) -> CatalogStatus:
            def one(sql: str, *params: Any) -> Any:
                return conn.execute(sql, params).fetchone()

            return status_from_counts(
                one(q.COUNT_LOCATIONS)[0],
                one(q.RANGE_COUNTS, fresh_since_ms),
                one(q.ADDRESS_COUNTS),
                one(q.PROBE_COUNTS),
                one(q.COUNT_USERS)[0],
                one(q.COUNT_GROUPS)[0],
            )

        return await self._read("reading the catalogue status", body)


def _locate(conn: Conn, keys: Sequence[tuple[str, tuple[int, bytes]]]) -> dict[str, Location]:
    out: dict[str, Location] = {}
    for text, (version, addr) in keys:
        row = conn.execute(q.LOCATE, (version, addr)).fetchone()
        if row is not None and addr <= bytes(row[0]):
            out[text] = location_from_row(row[1:])
    return out


if TYPE_CHECKING:  # mypy proves the catalogue satisfies its port; nothing runs here
    from cloudperf_core.ports import Catalog

    def _conforms(catalog: SqliteCatalog) -> Catalog:
        return catalog
