"""Query parameters the query endpoints share, and how stats look to humans (milliseconds).

Places (each repeatable): ``probe``, ``probe_location``, ``target``, ``location``, ``city``
(``CC/City``), ``asn`` (``AS64500`` or ``64500``), ``country`` (code), ``group``. Time:
``since`` / ``until``, each epoch seconds or a duration back from now (``90s``, ``15m``,
``3h``, ``7d``, ``2w``, ``1h30m``); the default is the last hour.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from cloudperf_core.api.errors import ApiError
from cloudperf_core.api.paging import DEFAULT_LIMIT, MAX_CURSOR_LEN, Limit
from cloudperf_core.catalog import Location
from cloudperf_core.limits import MAX_DURATION_S
from cloudperf_core.models import GroupStats, LatencyStats, PlaceQuery
from cloudperf_core.stats import stats_in_ms, us_to_ms

__all__ = [
    "DEFAULT_RANGE_S",
    "LatencyRow",
    "LocationView",
    "Paged",
    "PlaceFilters",
    "TimeRange",
    "latency_row",
    "location_view",
    "parse_time_s",
    "us_to_ms",
]

DEFAULT_RANGE_S = 3600
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_Names = Annotated[list[_Name], msgspec.Meta(max_length=1000)]
_TimeText = Annotated[str, msgspec.Meta(max_length=40)]
_DURATION_RE = re.compile(r"(\d{1,12})([smhdw])")
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_EPOCH_RE = re.compile(r"\d{1,12}(\.\d{1,6})?")


class TimeRange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: _TimeText | None = None
    until: _TimeText | None = None


class PlaceFilters(TimeRange, kw_only=True, forbid_unknown_fields=True):
    probe: _Names | None = None
    probe_location: _Names | None = None
    target: _Names | None = None
    location: _Names | None = None
    city: _Names | None = None
    asn: _Names | None = None
    country: _Names | None = None
    group: _Names | None = None


class Paged(PlaceFilters, kw_only=True, forbid_unknown_fields=True):
    """Place filters of a paged list."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Annotated[str, msgspec.Meta(max_length=MAX_CURSOR_LEN)] | None = None


def parse_time_s(text: str, now_s: int, what: str) -> int:
    """Epoch seconds, or a duration back from ``now_s``; 400 ``invalid_query`` otherwise."""
    text = text.strip().lower()
    if _EPOCH_RE.fullmatch(text):
        return int(float(text))
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS_S[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ApiError(
            400, "invalid_query", f"{what} is epoch seconds or a duration like 3h, not {text!r}"
        )
    if total > MAX_DURATION_S:
        raise ApiError(400, "invalid_query", f"{what} is more than 100 years back")
    return now_s - total


def time_range(params: TimeRange, now_ms: int) -> tuple[int, int]:
    """``(since_s, until_s)``: the last hour unless given; since must come before until."""
    now_s = now_ms // 1000
    until = now_s if params.until is None else parse_time_s(params.until, now_s, "until")
    since = until - DEFAULT_RANGE_S
    if params.since is not None:
        since = parse_time_s(params.since, now_s, "since")
    if since >= until:
        raise ApiError(400, "invalid_query", f"since ({since}) must be before until ({until})")
    return since, until


def _asn(text: str) -> int:
    digits = text[2:] if text[:2].upper() == "AS" else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 10 or int(digits) >= 2**32:
        raise ApiError(400, "invalid_query", f"asn is AS<number> or a number, not {text!r}")
    return int(digits)


def _opt(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def place_query(params: PlaceFilters, now_ms: int) -> PlaceQuery:
    since, until = time_range(params, now_ms)
    return PlaceQuery(
        probes=_opt(params.probe),
        probe_locations=_opt(params.probe_location),
        targets=_opt(params.target),
        locations=_opt(params.location),
        cities=_opt(params.city),
        asns=None if params.asn is None else tuple(_asn(a) for a in params.asn),
        countries=None if params.country is None else tuple(c.upper() for c in params.country),
        groups=_opt(params.group),
        since_s=since,
        until_s=until,
    )


# --- views ----------------------------------------------------------------------------------


class LatencyRow(msgspec.Struct, kw_only=True):
    """Merged stats of one (source, destination) group, RTTs in milliseconds.

    Counts and min/avg/max/stddev/jitter are exact; percentiles come from the merged sketch
    (within 1 %). ``source``/``dest`` are the group's keys (null where not grouped).
    """

    source: str | None
    source_name: str | None
    dest: str | None
    dest_name: str | None
    windows: int
    sent: int
    received: int
    duplicates: int
    loss_ratio: float | None
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    stddev_ms: float | None
    jitter_ms: float | None
    p50_ms: float | None
    p70_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def latency_row(group: GroupStats) -> LatencyRow:
    s: LatencyStats = group.stats
    return LatencyRow(
        source=group.source,
        source_name=group.source_name,
        dest=group.dest,
        dest_name=group.dest_name,
        windows=group.windows,
        **stats_in_ms(s),  # type: ignore[arg-type]  # the fields' own types, by name
    )


class LocationView(msgspec.Struct, kw_only=True):
    """A catalogue location as the API shows it."""

    name: str
    country_code: str | None
    country_name: str | None
    city: str | None
    asn: int | None
    asn_name: str | None
    latitude: float | None
    longitude: float | None


def location_view(loc: Location) -> LocationView:
    return LocationView(
        name=loc.name,
        country_code=loc.country_code,
        country_name=loc.country_name,
        city=loc.city,
        asn=loc.asn,
        asn_name=loc.asn_name,
        latitude=loc.latitude,
        longitude=loc.longitude,
    )
