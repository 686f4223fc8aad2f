"""The in-memory Catalog: the reference the SQLite and Aurora catalogues are held to.

Plain dicts and sorted key lists; validation and the discovery history rule come from
:mod:`cloudperf_core.catalog`, exactly as the SQL implementations use them.

>>> catalog = InMemoryCatalog()
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.lowlevel
import msgspec

from adapters.memory.users import InMemoryUsers, page
from cloudperf_core.catalog import (
    HISTORY_FOUND,
    AddressRange,
    CatalogStatus,
    DiscoverySweep,
    Group,
    Location,
    LocationFilter,
    Probe,
    ReachableAddress,
    address_key,
    check_limit,
    check_probe,
    checked_group,
    checked_location,
    checked_sweep,
    city_key,
    range_bounds,
    reachability,
    search_terms,
    search_text,
    sweep_histories,
)
from cloudperf_core.errors import NotFoundError
from cloudperf_core.places import PlaceKind, PlaceSummary, page_places, summarize_places

__all__ = ["InMemoryCatalog"]

AddrKey = tuple[int, int]  # (ip_version, integer address)


@dataclass
class _Range:
    end: int
    location: str
    last_checked_ms: int | None = None
    queued_at_ms: int | None = None


@dataclass
class _Tracked:
    history: int
    last_seen_ms: int


def _text(key: AddrKey) -> str:
    return str(ipaddress.ip_address(key[1]))


class InMemoryCatalog(InMemoryUsers):
    """Every catalogue table as a dict; list orders match the SQL implementations'."""

    def __init__(self) -> None:
        super().__init__()
        self._locations: dict[str, Location] = {}
        self._names_by_id: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._ranges: dict[AddrKey, _Range] = {}
        self._range_keys: list[AddrKey] | None = []  # sorted; None = rebuild
        self._tracked: dict[AddrKey, _Tracked] = {}
        self._sweeps: set[str] = set()
        self._groups: dict[str, Group] = {}
        self._probes: dict[str, Probe] = {}

    # --- locations -------------------------------------------------------------------------

    async def put_locations(self, locations: Sequence[Location]) -> dict[str, int]:
        await anyio.lowlevel.checkpoint()
        checked = [checked_location(loc) for loc in locations]
        out: dict[str, int] = {}
        for loc in checked:
            old = self._locations.get(loc.name)
            location_id = next(self._ids) if old is None else old.location_id
            assert location_id is not None
            self._locations[loc.name] = msgspec.structs.replace(loc, location_id=location_id)
            self._names_by_id[location_id] = loc.name
            out[loc.name] = location_id
        return out

    async def get_location(self, name: str) -> Location | None:
        await anyio.lowlevel.checkpoint()
        return self._locations.get(name)

    async def locations_by_id(self, location_ids: Collection[int]) -> dict[int, Location]:
        await anyio.lowlevel.checkpoint()
        names = ((i, self._names_by_id.get(i)) for i in set(location_ids))
        return {i: self._locations[name] for i, name in names if name is not None}

    async def list_locations(self, *, after: str | None = None, limit: int = 100) -> list[Location]:
        await anyio.lowlevel.checkpoint()
        return self._page(self._locations, after, limit)

    async def find_locations(self, where: LocationFilter) -> list[Location]:
        await anyio.lowlevel.checkpoint()
        if where.is_nothing():
            return []
        countries = None if where.countries is None else {c.upper() for c in where.countries}
        in_groups = (
            None
            if where.groups is None
            else {n for g in where.groups if g in self._groups for n in self._groups[g].locations}
        )
        return [
            loc
            for name, loc in sorted(self._locations.items())
            if (where.names is None or name in where.names)
            and (countries is None or loc.country_code in countries)
            and (where.cities is None or city_key(loc) in where.cities)
            and (where.asns is None or loc.asn in where.asns)
            and (in_groups is None or name in in_groups)
        ]

    async def search(
        self, text: str, *, after: str | None = None, limit: int = 20
    ) -> list[Location]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        terms = search_terms(text)
        if not terms:
            return []
        hits = [
            loc
            for name, loc in sorted(self._locations.items())
            if (after is None or name > after) and all(t in search_text(loc) for t in terms)
        ]
        return hits[:limit]

    async def list_places(
        self, kind: PlaceKind, *, after: str | None = None, limit: int = 100
    ) -> list[PlaceSummary]:
        await anyio.lowlevel.checkpoint()
        places = summarize_places(self._locations.values(), kind)
        return page_places(places, kind, after=after, limit=limit)

    # --- ranges ----------------------------------------------------------------------------

    async def put_ranges(self, ranges: Sequence[AddressRange]) -> int:
        await anyio.lowlevel.checkpoint()
        rows = []
        for r in ranges:
            version, lo, hi = range_bounds(r.start, r.end)
            rows.append(((version, int(lo)), int(hi), r.location))
        self._require_locations({name for _, _, name in rows})
        for key, end, name in rows:
            old = self._ranges.get(key)
            if old is None:
                self._ranges[key] = _Range(end=end, location=name)
                self._range_keys = None
            else:
                old.end, old.location = end, name
        return len(rows)

    async def list_ranges(
        self, *, location: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[AddressRange]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        start = None if after is None else address_key(after)
        out = []
        for key in self._sorted_ranges():
            r = self._ranges[key]
            if (start is None or key > start) and (location is None or r.location == location):
                out.append(self._range(key, r))
                if len(out) == limit:
                    break
        return out

    async def locate(self, address: str) -> Location | None:
        await anyio.lowlevel.checkpoint()
        return self._locate(address_key(address))

    async def locate_many(self, addresses: Sequence[str]) -> dict[str, Location]:
        await anyio.lowlevel.checkpoint()
        out: dict[str, Location] = {}
        for text in dict.fromkeys(addresses):
            try:
                key = ipaddress.ip_address(text)
            except ValueError:
                continue  # a hostname: never in a range
            found = self._locate((key.version, int(key)))
            if found is not None:
                out[text] = found
        return out

    def _locate(self, key: AddrKey) -> Location | None:
        keys = self._sorted_ranges()
        i = bisect.bisect_right(keys, key) - 1
        if i < 0 or keys[i][0] != key[0] or self._ranges[keys[i]].end < key[1]:
            return None
        return self._locations[self._ranges[keys[i]].location]

    def _sorted_ranges(self) -> list[AddrKey]:
        if self._range_keys is None:
            self._range_keys = sorted(self._ranges)
        return self._range_keys

    def _range(self, key: AddrKey, r: _Range) -> AddressRange:
        return AddressRange(
            start=_text(key),
            end=str(ipaddress.ip_address(r.end)),
            location=r.location,
            location_id=self._locations[r.location].location_id,
            last_checked_ms=r.last_checked_ms,
            queued_at_ms=r.queued_at_ms,
        )

    # --- groups ----------------------------------------------------------------------------

    async def list_groups(self) -> list[Group]:
        await anyio.lowlevel.checkpoint()
        return [self._groups[name] for name in sorted(self._groups)]

    async def get_group(self, name: str) -> Group | None:
        await anyio.lowlevel.checkpoint()
        return self._groups.get(name)

    async def set_group(self, group: Group) -> None:
        await anyio.lowlevel.checkpoint()
        group = checked_group(group)
        self._require_locations(set(group.locations))
        self._groups[group.name] = group

    async def delete_group(self, name: str) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._groups.pop(name, None) is not None

    # --- discovery -------------------------------------------------------------------------

    async def record_sweep(self, sweep: DiscoverySweep) -> bool:
        await anyio.lowlevel.checkpoint()
        version, lo, hi, found = checked_sweep(sweep)
        if sweep.report_id in self._sweeps:
            return False
        first, last = (version, int(lo)), (version, int(hi))
        tracked = {k: t.history for k, t in self._tracked.items() if first <= k <= last}
        found_keys = [(version, int(a)) for a in found]
        for key, history in sweep_histories(tracked, found_keys).items():
            if history == 0:
                del self._tracked[key]
            elif key in tracked:
                self._tracked[key].history = history
            else:
                self._tracked[key] = _Tracked(history=history, last_seen_ms=sweep.at_ms)
        for key in found_keys:
            entry = self._tracked[key]
            entry.last_seen_ms = max(entry.last_seen_ms, sweep.at_ms)
        for key, r in self._ranges.items():
            if key[0] == version and key[1] <= int(hi) and r.end >= int(lo):
                r.last_checked_ms = max(r.last_checked_ms or sweep.at_ms, sweep.at_ms)
        self._sweeps.add(sweep.report_id)
        return True

    async def ranges_due(self, *, checked_before_ms: int, limit: int = 100) -> list[AddressRange]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        due = [
            (r.last_checked_ms is not None, r.last_checked_ms or 0, key)
            for key, r in self._ranges.items()
            if (r.last_checked_ms is None or r.last_checked_ms < checked_before_ms)
            and (r.queued_at_ms is None or r.queued_at_ms < checked_before_ms)
        ]
        return [self._range(key, self._ranges[key]) for *_, key in sorted(due)[:limit]]

    async def mark_ranges_queued(self, starts: Sequence[str], at_ms: int) -> None:
        await anyio.lowlevel.checkpoint()
        keys = {address_key(s) for s in starts}
        for key in keys & self._ranges.keys():
            self._ranges[key].queued_at_ms = at_ms

    async def reachable_addresses(
        self, location: str, *, after: str | None = None, limit: int = 100
    ) -> list[ReachableAddress]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        self._require_locations({location})
        start = None if after is None else address_key(after)
        spans = [(k, r.end) for k, r in self._ranges.items() if r.location == location]
        out = [
            ReachableAddress(address=_text(key), history=t.history, last_seen_ms=t.last_seen_ms)
            for key, t in sorted(self._tracked.items())
            if (start is None or key > start)
            and any(k[0] == key[0] and k[1] <= key[1] <= end for k, end in spans)
        ]
        return out[:limit]

    async def reachable_locations(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        answered = sorted(k for k, t in self._tracked.items() if t.history >= HISTORY_FOUND)
        names = {
            r.location
            for (version, lo), r in self._ranges.items()
            if r.last_checked_ms is not None
            and (i := bisect.bisect_left(answered, (version, lo))) < len(answered)
            and answered[i] <= (version, r.end)
        }
        return sorted(n for n in names if after is None or n > after)[:limit]

    # --- probes, users, settings -----------------------------------------------------------

    async def put_probe(self, probe: Probe) -> None:
        await anyio.lowlevel.checkpoint()
        check_probe(probe)
        if probe.location is not None:
            self._require_locations({probe.location})
        self._probes[probe.probe_id] = probe

    async def get_probe(self, probe_id: str) -> Probe | None:
        await anyio.lowlevel.checkpoint()
        return self._probes.get(probe_id)

    async def list_probes(self, *, after: str | None = None, limit: int = 100) -> list[Probe]:
        await anyio.lowlevel.checkpoint()
        return self._page(self._probes, after, limit)

    async def touch_probe(self, probe_id: str, at_ms: int) -> None:
        await anyio.lowlevel.checkpoint()
        probe = self._probes.get(probe_id)
        if probe is None:
            raise NotFoundError(f"no probe {probe_id!r}")
        seen = max(probe.last_seen_ms or at_ms, at_ms)
        self._probes[probe_id] = msgspec.structs.replace(probe, last_seen_ms=seen)

    async def status(self, *, fresh_since_ms: int) -> CatalogStatus:
        await anyio.lowlevel.checkpoint()
        ranges = list(self._ranges.values())
        states = [reachability(t.history) for t in self._tracked.values()]
        fresh = sum(
            r.last_checked_ms is not None and r.last_checked_ms >= fresh_since_ms for r in ranges
        )
        return CatalogStatus(
            locations=len(self._locations),
            ranges=len(ranges),
            ranges_fresh=fresh,
            ranges_stale=len(ranges) - fresh,
            ranges_queued=sum(
                r.queued_at_ms is not None
                and (r.last_checked_ms is None or r.queued_at_ms > r.last_checked_ms)
                for r in ranges
            ),
            addresses=len(states),
            addresses_new=states.count("new"),
            addresses_stable=states.count("stable"),
            addresses_lost=states.count("lost"),
            probes=len(self._probes),
            probes_enabled=sum(p.enabled for p in self._probes.values()),
            users=len(self._users),
            groups=len(self._groups),
        )

    async def close(self) -> None:
        pass

    # --- helpers ---------------------------------------------------------------------------

    def _require_locations(self, names: set[str]) -> None:
        missing = sorted(names - self._locations.keys())
        if missing:
            raise NotFoundError(f"unknown locations: {missing[:5]}")

    _page = staticmethod(page)


if TYPE_CHECKING:  # mypy proves the fake satisfies its port; nothing runs here
    from cloudperf_core.ports import Catalog

    _catalog: Catalog = InMemoryCatalog()
