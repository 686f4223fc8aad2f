"""Latency and loss by place (viewer and up): merged stats, time series, one address.

``GET /v1/latency`` groups by ``group_by`` (``pair``, ``source``, ``target``, ``location``,
``city``, ``asn``, ``country``, ``group``, ``overall``) or by ``source_by`` (``probe``,
``probe_location``, ``none``) x ``dest_by`` (``target``, ``location``, ``city``, ``asn``,
``country``, ``group``, ``none``) -- the console's matrix is ``probe_location`` x one of the
place kinds. Rows come sorted by (source, dest), nulls last, and are paged by that key.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Annotated, Protocol

import msgspec
from starlette.responses import Response

from cloudperf_core import service
from cloudperf_core.api.errors import ApiError
from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.paging import decode_cursor, page_of
from cloudperf_core.api.params import (
    LatencyRow,
    LocationView,
    Paged,
    PlaceFilters,
    TimeRange,
    latency_row,
    location_view,
    place_query,
    time_range,
    us_to_ms,
)
from cloudperf_core.catalog import reachability
from cloudperf_core.models import DestDim, GroupBy, Grouping, GroupStats, PlaceQuery, SourceDim
from cloudperf_core.service.queries import describe_address, query_series
from cloudperf_core.windows.group import grouping_for
from cloudperf_core.windows.series import SERIES_QUANTILES, SeriesPoint

__all__ = ["ROUTES"]

# (source is null, source, dest is null, dest): the order rows are listed and paged in.
SortKey = tuple[bool, str, bool, str]
_GROUP_KEY = tuple[str | None, str | None]


class LatencyParams(Paged, kw_only=True, forbid_unknown_fields=True):
    group_by: GroupBy | None = None
    source_by: SourceDim | None = None
    dest_by: DestDim | None = None


class LatencyPage(msgspec.Struct, kw_only=True):
    """One page of merged stats; ``since_s``/``until_s`` is the range the windows start in."""

    since_s: int
    until_s: int
    source_by: SourceDim
    dest_by: DestDim
    items: list[LatencyRow]
    next_cursor: str | None = None


class SeriesParams(PlaceFilters, kw_only=True, forbid_unknown_fields=True):
    step: Annotated[int, msgspec.Meta(ge=1, le=366 * 86_400)] | None = None


class SeriesPointView(msgspec.Struct, kw_only=True):
    """One step: exact counts, loss, min/avg/max, and the merged sketch's percentiles."""

    start_s: int
    windows: int
    sent: int
    received: int
    duplicates: int
    loss_ratio: float | None
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    p10_ms: float | None
    p20_ms: float | None
    p30_ms: float | None
    p40_ms: float | None
    p50_ms: float | None
    p60_ms: float | None
    p70_ms: float | None
    p80_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class SeriesAnswer(msgspec.Struct, kw_only=True):
    """Steps of ``step_s`` from ``since_s`` to ``until_s`` (widened to whole steps), one
    point each, empty steps included (their counts 0, their figures null)."""

    since_s: int
    until_s: int
    step_s: int
    points: list[SeriesPointView]


class AddressAnswer(msgspec.Struct, kw_only=True):
    """An address: its location, its discovery history, latency to it per probe."""

    address: str
    ip_version: int
    location: LocationView | None
    reachability: str | None
    history: int | None
    last_seen_ms: int | None
    since_s: int
    until_s: int
    latency: list[LatencyRow]


class _GroupingParams(Protocol):
    group_by: GroupBy | None
    source_by: SourceDim | None
    dest_by: DestDim | None


def grouping_of(params: _GroupingParams) -> Grouping:
    """``group_by``, or ``source_by`` x ``dest_by``, or by pair (not both forms at once)."""
    if params.group_by is not None:
        if params.source_by is not None or params.dest_by is not None:
            raise ApiError(400, "invalid_query", "give group_by or source_by/dest_by, not both")
        return grouping_for(params.group_by)
    if params.source_by is None and params.dest_by is None:
        return grouping_for("pair")
    return Grouping(source=params.source_by or "none", dest=params.dest_by or "none")


def _sort_key(key: _GROUP_KEY) -> SortKey:
    source, dest = key
    return (source is None, source or "", dest is None, dest or "")


def _key(row: LatencyRow) -> _GROUP_KEY:
    return (row.source, row.dest)


@endpoint(
    Operation(
        "GET", "/v1/latency", "Merged latency and loss by place", "viewer", "queries",
        query=LatencyParams, response=LatencyPage, errors=(400,),
    )
)  # fmt: skip
async def latency(call: Call) -> Response:
    params = call.query(LatencyParams)
    grouping = grouping_of(params)
    query = place_query(params, call.ctx.clock.now_ms())
    services = call.ctx.services
    groups: list[GroupStats] = await service.query_stats(
        await services.store(), query, grouping, catalog=await services.catalog()
    )
    groups.sort(key=lambda g: _sort_key((g.source, g.dest)))
    after = decode_cursor(params.cursor, tuple[str | None, str | None])
    start = 0
    if after is not None:
        keys = [_sort_key((g.source, g.dest)) for g in groups]
        start = bisect_right(keys, _sort_key(after))
    rows = (latency_row(g) for g in groups[start : start + params.limit + 1])
    page = page_of(list(rows), key=_key, limit=params.limit)
    assert query.since_s is not None and query.until_s is not None
    return call.json(
        LatencyPage(
            since_s=query.since_s,
            until_s=query.until_s,
            source_by=grouping.source,
            dest_by=grouping.dest,
            items=page.items,
            next_cursor=page.next_cursor,
        )
    )


def _point_view(p: SeriesPoint) -> SeriesPointView:
    percentiles = {
        name.replace("_us", "_ms"): us_to_ms(getattr(p, name)) for name, _ in SERIES_QUANTILES
    }
    return SeriesPointView(
        start_s=p.start_s,
        windows=p.windows,
        sent=p.sent,
        received=p.received,
        duplicates=p.duplicates,
        loss_ratio=None if p.loss_ratio is None else round(p.loss_ratio, 6),
        min_ms=us_to_ms(p.min_us),
        avg_ms=us_to_ms(p.mean_us),
        max_ms=us_to_ms(p.max_us),
        **percentiles,
    )


@endpoint(
    Operation(
        "GET", "/v1/latency/series", "Latency and loss per time step, for plots", "viewer",
        "queries", query=SeriesParams, response=SeriesAnswer, errors=(400,),
    )
)  # fmt: skip
async def latency_series(call: Call) -> Response:
    params = call.query(SeriesParams)
    query: PlaceQuery = place_query(params, call.ctx.clock.now_ms())
    services = call.ctx.services
    series = await query_series(
        await services.store(), query, catalog=await services.catalog(), step_s=params.step
    )
    return call.json(
        SeriesAnswer(
            since_s=series.since_s,
            until_s=series.until_s,
            step_s=series.step_s,
            points=[_point_view(p) for p in series.points],
        )
    )


@endpoint(
    Operation(
        "GET", "/v1/ip/{addr}", "What is known of one address: location, reachability, "
        "latency to it per probe", "viewer", "queries", query=TimeRange,
        response=AddressAnswer, errors=(400,),
    )
)  # fmt: skip
async def ip_address(call: Call) -> Response:
    params = call.query(TimeRange)
    since, until = time_range(params, call.ctx.clock.now_ms())
    services = call.ctx.services
    catalog = await services.catalog()
    info = await describe_address(catalog, call.path("addr"))
    groups = await service.query_stats(
        await services.store(),
        PlaceQuery(targets=(info.address,), since_s=since, until_s=until),
        "source",
        catalog=catalog,
    )
    seen = info.reachable
    return call.json(
        AddressAnswer(
            address=info.address,
            ip_version=info.ip_version,
            location=None if info.location is None else location_view(info.location),
            reachability=None if seen is None else reachability(seen.history),
            history=None if seen is None else seen.history,
            last_seen_ms=None if seen is None else seen.last_seen_ms,
            since_s=since,
            until_s=until,
            latency=[latency_row(g) for g in groups],
        )
    )


ROUTES: list[ApiRoute] = [latency, latency_series, ip_address]
