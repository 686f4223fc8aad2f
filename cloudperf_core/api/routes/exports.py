"""Prometheus and bulk exports: ``GET /metrics`` (OpenMetrics) and ``GET /v1/export``.

``/metrics`` answers the metrics token (``CLOUDPERF_METRICS_TOKEN``, as a bearer token, for
Prometheus' ``authorization`` scrape setting) or a viewer session; what it holds is
:mod:`cloudperf_core.service.metrics`. ``/v1/export?format=csv|jsonl`` (viewer) streams
:func:`cloudperf_core.service.export.export_rows` for any range, an hour of windows read at a
time, in chunks of about ``CHUNK_BYTES``, so memory stays bounded whatever the range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import msgspec
from starlette.responses import Response, StreamingResponse

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.params import TimeRange, time_range
from cloudperf_core.api.routes.queries import grouping_of
from cloudperf_core.models import DestDim, GroupBy, Grouping, SourceDim
from cloudperf_core.service.export import export_lines, export_rows
from cloudperf_core.service.metrics import CONTENT_TYPE, metrics_snapshot, render_openmetrics

__all__ = ["CHUNK_BYTES", "ROUTES"]

CHUNK_BYTES = 64 * 1024
_MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class ExportParams(TimeRange, kw_only=True, forbid_unknown_fields=True):
    format: Literal["csv", "jsonl"] = "csv"
    group_by: GroupBy | None = None
    source_by: SourceDim | None = None
    dest_by: DestDim | None = None
    probe: Annotated[list[_Name], msgspec.Meta(max_length=1000)] | None = None


@endpoint(
    Operation(
        "GET", "/metrics", "Prometheus metrics (OpenMetrics text)", "scraper", "exports",
        produces=CONTENT_TYPE,
    )
)  # fmt: skip
async def metrics(call: Call) -> Response:
    settings = call.ctx.settings
    services = call.ctx.services
    snapshot = await metrics_snapshot(
        await services.store(),
        await services.catalog(),
        now_s=call.ctx.clock.now_ms() // 1000,
        grouping=Grouping(source=settings.metrics_source_by, dest=settings.metrics_dest_by),
        max_series=settings.metrics_max_series,
        settle_s=settings.metrics_settle_s,
        lookback_s=settings.metrics_lookback_s,
    )
    return Response(render_openmetrics(snapshot), media_type=CONTENT_TYPE)


async def _chunks(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    size = 0
    async for line in lines:
        parts.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode()
            parts, size = [], 0
    if parts:
        yield "".join(parts).encode()


async def _then(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


@endpoint(
    Operation(
        "GET", "/v1/export", "Measurements per window and group, streamed as CSV or JSON "
        "lines", "viewer", "exports", query=ExportParams, errors=(400,),
        produces="text/csv; charset=utf-8",
    )
)  # fmt: skip
async def export(call: Call) -> Response:
    params = call.query(ExportParams)
    grouping = grouping_of(params)
    since_s, until_s = time_range(params, call.ctx.clock.now_ms())
    services = call.ctx.services
    rows = export_rows(
        await services.store(), await services.catalog(), since_s=since_s, until_s=until_s,
        group_by=grouping, sources=params.probe,
    )  # fmt: skip
    chunks = _chunks(export_lines(rows, params.format))
    # The first chunk is read here, so a refusal or a backend down is still a 4xx/503 with a
    # body; a backend failing later cuts the stream short (no final chunk: the client sees
    # an incomplete transfer, never a silently short file).
    first = await anext(chunks, None)
    extension = "csv" if params.format == "csv" else "jsonl"
    return StreamingResponse(
        _then(first, chunks),
        media_type=_MEDIA[params.format],
        headers={
            "Content-Disposition": f'attachment; filename="cloudperf-{since_s}-{until_s}.'
            f'{extension}"'
        },
    )


ROUTES: list[ApiRoute] = [metrics, export]
