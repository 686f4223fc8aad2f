"""Merged stats per group of window rows: the one place rows are grouped.

A grouping pairs a source dimension (``probe``, ``probe_location``, ``none``) with a
destination dimension (``target``, ``location``, ``city``, ``asn``, ``country``, ``group``,
``none``); the named ``GroupBy`` values are shorthands for some of the pairs. Rows reach here
already filtered by the store; what the catalogue knows about them (locations by id, probes,
group memberships) comes in a :class:`PlaceIndex`.

Every group's stats come from :func:`~cloudperf_core.windows.summary.summarize_many` over
its rows (all groups at once), so percentiles are read from the merged sketch, never
averaged. A row whose location is in several groups counts in each of them; a row the
destination dimension knows nothing about (an untagged target grouped by country, a location
in no group) lands in the ``None`` group.

>>> group_windows(rows, Grouping(source="probe_location", dest="country"), index)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cloudperf_core.catalog import Location, Probe, asn_key, city_key
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import GroupBy, Grouping, GroupStats, WindowAggregate
from cloudperf_core.windows.summary import summarize_many

__all__ = [
    "GROUPINGS",
    "PlaceIndex",
    "group_windows",
    "grouping_for",
    "groups_by_location",
    "needs_places",
]

GROUPINGS: dict[str, Grouping] = {
    "pair": Grouping(source="probe", dest="target"),
    "source": Grouping(source="probe", dest="none"),
    "target": Grouping(source="none", dest="target"),
    "location": Grouping(source="none", dest="location"),
    "city": Grouping(source="none", dest="city"),
    "asn": Grouping(source="none", dest="asn"),
    "country": Grouping(source="none", dest="country"),
    "group": Grouping(source="none", dest="group"),
    "overall": Grouping(source="none", dest="none"),
}
_SOURCE_DIMS = ("probe", "probe_location", "none")
_DEST_DIMS = ("target", "location", "city", "asn", "country", "group", "none")

Key = tuple[str | None, str | None]  # (key, human-readable name)
_NONE: Key = (None, None)


@dataclass(frozen=True)
class PlaceIndex:
    """What grouping needs from the catalogue: locations by id, probes by id, and the
    groups each location (by name) belongs to."""

    locations: Mapping[int, Location] = field(default_factory=dict)
    probes: Mapping[str, Probe] = field(default_factory=dict)
    groups_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def grouping_for(group_by: GroupBy | Grouping) -> Grouping:
    """The grouping a named ``group_by`` stands for (a Grouping is checked and returned)."""
    if isinstance(group_by, Grouping):
        if group_by.source not in _SOURCE_DIMS or group_by.dest not in _DEST_DIMS:
            raise InvalidSpecError(
                f"grouping must be source in {_SOURCE_DIMS} x dest in {_DEST_DIMS}, "
                f"got {group_by.source!r} x {group_by.dest!r}"
            )
        return group_by
    try:
        return GROUPINGS[group_by]
    except (KeyError, TypeError):
        raise InvalidSpecError(
            f"group_by must be one of {tuple(GROUPINGS)}, got {group_by!r}"
        ) from None


def needs_places(grouping: Grouping) -> bool:
    """Whether the grouping reads the catalogue (probe locations or destination places)."""
    return grouping.source == "probe_location" or grouping.dest not in ("target", "none")


def group_windows(
    windows: Iterable[WindowAggregate], grouping: Grouping, places: PlaceIndex | None = None
) -> list[GroupStats]:
    """Merged stats per (source key, destination key), sorted by keys (``None`` last)."""
    grouping = grouping_for(grouping)
    index = places or PlaceIndex()
    rows_of: dict[tuple[str | None, str | None], list[WindowAggregate]] = {}
    names: dict[tuple[str | None, str | None], tuple[str | None, str | None]] = {}
    # A row's keys depend only on its source, and on its target and location: found once each.
    source_of: dict[str, Key] = {}
    dests_of: dict[tuple[str, int | None], list[Key]] = {}
    for row in windows:
        src = source_of.get(row.source)
        if src is None:
            source, source_name = _source_key(row, grouping, index)
            src = source_of[row.source] = (source, None if source is None else source_name)
        place = (row.target, row.dest_location_id)
        dests = dests_of.get(place)
        if dests is None:
            location = (
                None if row.dest_location_id is None else index.locations.get(row.dest_location_id)
            )
            dests = dests_of[place] = [
                (dest, None if dest is None else dest_name)
                for dest, dest_name in _dest_keys(row, location, grouping, index)
            ]
        for dest, dest_name in dests:
            key = (src[0], dest)
            found = rows_of.get(key)
            if found is None:
                rows_of[key] = [row]
                names[key] = (src[1], dest_name)
                continue
            found.append(row)
            known = names[key]
            if not (known[0] and known[1]):  # the first name any row of the group has
                names[key] = (known[0] or src[1], known[1] or dest_name)
    keys = sorted(rows_of, key=_order)
    stats = summarize_many([rows_of[key] for key in keys])
    return [
        GroupStats(
            source=source,
            dest=dest,
            stats=group_stats,
            windows=len(rows_of[(source, dest)]),
            source_name=names[(source, dest)][0],
            dest_name=names[(source, dest)][1],
        )
        for (source, dest), group_stats in zip(keys, stats, strict=True)
    ]


def _order(key: tuple[str | None, str | None]) -> tuple[bool, str, bool, str]:
    source, dest = key
    return (source is None, source or "", dest is None, dest or "")


def _source_key(row: WindowAggregate, grouping: Grouping, index: PlaceIndex) -> Key:
    if grouping.source == "none":
        return _NONE
    probe = index.probes.get(row.source)
    if grouping.source == "probe":
        return (row.source, None if probe is None else probe.name)
    return (None if probe is None else probe.location, None)


def _dest_keys(
    row: WindowAggregate, location: Location | None, grouping: Grouping, index: PlaceIndex
) -> list[Key]:
    dim = grouping.dest
    if dim == "none":
        return [_NONE]
    if dim == "target":
        return [(row.target, None)]
    if location is None:
        return [_NONE]
    if dim == "location":
        return [(location.name, None)]
    if dim == "city":
        return [(city_key(location), location.city)]
    if dim == "asn":
        return [(asn_key(location.asn), location.asn_name)]
    if dim == "country":
        return [(location.country_code, location.country_name)]
    return [(name, None) for name in index.groups_of.get(location.name, ())] or [_NONE]


def groups_by_location(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, tuple[str, ...]]:
    """location name -> names of the groups holding it, from (group name, location names)."""
    out: dict[str, list[str]] = {}
    for group, locations in groups:
        for name in locations:
            out.setdefault(name, []).append(group)
    return {name: tuple(sorted(found)) for name, found in out.items()}
