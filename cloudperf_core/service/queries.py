"""Merged statistics by place (sketches merged, never averaged) and catalogue listings."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cloudperf_core.catalog import MAX_PAGE, LocationFilter, Probe
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    GroupBy,
    Grouping,
    GroupStats,
    PlaceQuery,
    StatsQuery,
    WindowAggregate,
)
from cloudperf_core.ports import Catalog, MeasurementStore
from cloudperf_core.windows import group

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
