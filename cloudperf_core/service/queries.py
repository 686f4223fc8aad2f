"""Merged statistics by place (sketches merged, never averaged), time series for plots,
and catalogue listings (places, what has data, what an address is)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from cloudperf_core.catalog import (
    MAX_PAGE,
    Location,
    LocationFilter,
    Probe,
    ReachableAddress,
    parse_address,
)
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    GroupBy,
    Grouping,
    GroupStats,
    PlaceQuery,
    StatsQuery,
    WindowAggregate,
)
from cloudperf_core.places import PlaceKind, PlaceSummary, page_places, summarize_places
from cloudperf_core.ports import Catalog, MeasurementStore
from cloudperf_core.windows import group
from cloudperf_core.windows.series import SeriesPoint, align, choose_step_s, series_points

log = logging.getLogger(__name__)


async def query_stats(
    store: MeasurementStore,
    query: PlaceQuery | StatsQuery,
    group_by: GroupBy | Grouping = "pair",
    *,
    catalog: Catalog | None = None,
) -> list[GroupStats]:
    """Merged stats per group of the windows the query selects (sketches merged, never
    averaged): the one entry for every question "how fast from here to there".

    Place filters (probe locations, locations, cities, ASNs, countries, groups) and place
    groupings need the ``catalog``; without one they raise InvalidSpecError. Groupings:
    :data:`cloudperf_core.windows.group.GROUPINGS` or any :class:`Grouping`.
    """
    grouping = group.grouping_for(group_by)
    if group.needs_places(grouping) and catalog is None:
        raise InvalidSpecError(f"grouping by {grouping.source} x {grouping.dest} needs a catalogue")
    store_query = query if isinstance(query, StatsQuery) else await _store_query(query, catalog)
    windows = await store.fetch_windows(store_query)
    places = None if catalog is None else await _place_index(catalog, windows, grouping)
    return group.group_windows(windows, grouping, places)


async def _store_query(query: PlaceQuery, catalog: Catalog | None) -> StatsQuery:
    """The store-level filter of a place query: probe ids and destination location ids."""
    where = LocationFilter(
        names=query.locations,
        countries=query.countries,
        cities=query.cities,
        asns=query.asns,
        groups=query.groups,
    )
    if catalog is None:
        if query.probe_locations is not None or not where.is_everything():
            raise InvalidSpecError("filtering by place needs a catalogue")
        return StatsQuery(
            sources=query.probes,
            targets=query.targets,
            since_s=query.since_s,
            until_s=query.until_s,
        )
    sources = query.probes
    if query.probe_locations is not None:
        wanted = set(query.probe_locations)
        there = [p.probe_id for p in await all_probes(catalog) if p.location in wanted]
        sources = tuple(there) if sources is None else tuple(sorted(set(sources) & set(there)))
    dest_ids: tuple[int, ...] | None = None
    if not where.is_everything():
        found = await catalog.find_locations(where)
        dest_ids = tuple(loc.location_id for loc in found if loc.location_id is not None)
    return StatsQuery(
        sources=sources,
        targets=query.targets,
        dest_location_ids=dest_ids,
        since_s=query.since_s,
        until_s=query.until_s,
    )


async def _place_index(
    catalog: Catalog, windows: Sequence[WindowAggregate], grouping: Grouping
) -> group.PlaceIndex:
    ids = {w.dest_location_id for w in windows if w.dest_location_id is not None}
    located = grouping.dest in ("location", "city", "asn", "country", "group")
    locations = await catalog.locations_by_id(ids) if located and ids else {}
    probes = {p.probe_id: p for p in await all_probes(catalog)} if grouping.source != "none" else {}
    groups_of = (
        group.groups_by_location((g.name, g.locations) for g in await catalog.list_groups())
        if grouping.dest == "group"
        else {}
    )
    return group.PlaceIndex(locations=locations, probes=probes, groups_of=groups_of)


async def all_probes(catalog: Catalog) -> list[Probe]:
    """Every probe, page by page."""
    out: list[Probe] = []
    while True:
        page = await catalog.list_probes(after=out[-1].probe_id if out else None, limit=MAX_PAGE)
        out.extend(page)
        if len(page) < MAX_PAGE:
            return out


class Series(msgspec.Struct, kw_only=True):
    """A time series: ``[since_s, until_s)`` in whole steps of ``step_s``, a point each."""

    since_s: int
    until_s: int
    step_s: int
    points: list[SeriesPoint]


async def query_series(
    store: MeasurementStore,
    query: PlaceQuery,
    *,
    catalog: Catalog | None = None,
    step_s: int | None = None,
) -> Series:
    """The windows a place query selects, merged per step (sketches merged per step).

    ``query`` needs ``since_s`` and ``until_s``; the range is widened to whole steps. The
    step is ``step_s`` or one giving about 100-300 points, raised where stored windows are
    longer (rolled-up data) so no window is split.
    """
    if query.since_s is None or query.until_s is None:
        raise InvalidSpecError("a series needs since and until")
    span_s = query.until_s - query.since_s
    step = choose_step_s(span_s, (), step_s)
    since, until = align(query.since_s, query.until_s, step)
    rows = await store.fetch_windows(await _series_query(query, catalog, since, until))
    fitted = choose_step_s(span_s, {w.window_s for w in rows}, step_s)
    if fitted != step:  # rolled-up windows: a coarser step, maybe a wider range to fetch
        step = fitted
        wider = align(query.since_s, query.until_s, step)
        if wider != (since, until):
            since, until = wider
            rows = await store.fetch_windows(await _series_query(query, catalog, since, until))
    return Series(
        since_s=since, until_s=until, step_s=step, points=series_points(rows, since, until, step)
    )


async def _series_query(
    query: PlaceQuery, catalog: Catalog | None, since_s: int, until_s: int
) -> StatsQuery:
    widened = msgspec.structs.replace(query, since_s=since_s, until_s=until_s)
    return await _store_query(widened, catalog)


async def list_places(
    catalog: Catalog,
    kind: PlaceKind,
    *,
    after: str | None = None,
    limit: int = 100,
    with_data: MeasurementStore | None = None,
    since_s: int | None = None,
    until_s: int | None = None,
) -> list[PlaceSummary]:
    """Countries, cities or ASNs of the catalogue, page by page; with ``with_data`` (the
    store), only those with windows starting in ``[since_s, until_s)`` (their ``locations``
    then count the locations with data)."""
    if with_data is None:
        return await catalog.list_places(kind, after=after, limit=limit)
    presence = await with_data.data_presence(since_s, until_s)
    located = await catalog.locations_by_id(presence.dest_location_ids)
    places = summarize_places(located.values(), kind)
    return page_places(places, kind, after=after, limit=limit)


class AddressInfo(msgspec.Struct, kw_only=True):
    """What the catalogue knows of an address: its location and its discovery history."""

    address: str
    ip_version: int
    location: Location | None = None
    reachable: ReachableAddress | None = None


async def describe_address(catalog: Catalog, address: str) -> AddressInfo:
    """The address's location (None outside every range) and, if discovery tracks it, its
    reachability history. InvalidSpecError if ``address`` is not an IP address."""
    addr = parse_address(address)
    text = str(addr)
    info = AddressInfo(address=text, ip_version=addr.version)
    info.location = await catalog.locate(text)
    if info.location is not None:
        # Tracked addresses are listed after a key: start just before this one.
        before = None if int(addr) == 0 else str(type(addr)(int(addr) - 1))
        page = await catalog.reachable_addresses(info.location.name, after=before, limit=1)
        if page and page[0].address == text:
            info.reachable = page[0]
    return info
