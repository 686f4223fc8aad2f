"""Export of stored measurements: one row per (window, source group, destination group), with
counts, loss and percentiles in milliseconds, as CSV, JSON lines, Influx line protocol or
OpenMetrics (``cloudperf export``, ``cloudperf admin export``, ``GET /v1/export``; the admin
Lambda streams the same rows).

Rows stream: the time range is read a slice at a time (``slice_s`` of window starts), each
slice's windows grouped per window and written before the next slice is read, so memory
holds one slice whatever the range. Percentiles come from the merged sketches of the rows
grouped together (never averaged).

>>> async for line in export_lines(rows, "csv"):                       # doctest: +SKIP
...     sys.stdout.write(line)
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator, Sequence
from itertools import groupby
from typing import Any, Literal

import msgspec

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import GroupBy, Grouping, GroupStats, StatsQuery
from cloudperf_core.ports import Catalog, MeasurementStore
from cloudperf_core.service.queries import _place_index
from cloudperf_core.stats import stats_in_ms
from cloudperf_core.windows import group

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ExportFormat",
    "ExportRow",
    "export_lines",
    "export_rows",
]

ExportFormat = Literal["csv", "jsonl", "influx", "openmetrics"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl", "influx", "openmetrics")
DEFAULT_SLICE_S = 3600


class ExportRow(msgspec.Struct, kw_only=True):
    """One window of one (source, destination) group; times in milliseconds."""

    window_start: str  # ISO 8601, UTC
    window_start_s: int
    window_s: int
    source: str | None
    dest: str | None
    source_name: str | None
    dest_name: str | None
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
    windows: int  # stored rows merged into this one


EXPORT_COLUMNS: tuple[str, ...] = ExportRow.__struct_fields__


def _row(start_s: int, window_s: int, g: GroupStats) -> ExportRow:
    s = g.stats
    return ExportRow(
        window_start=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s)),
        window_start_s=start_s,
        window_s=window_s,
        source=g.source,
        dest=g.dest,
        source_name=g.source_name,
        dest_name=g.dest_name,
        **stats_in_ms(s),  # type: ignore[arg-type]  # the fields' own types, by name
        windows=g.windows,
    )


async def export_rows(
    store: MeasurementStore,
    catalog: Catalog | None,
    *,
    since_s: int,
    until_s: int,
    group_by: GroupBy | Grouping = "pair",
    sources: Sequence[str] | None = None,
    slice_s: int = DEFAULT_SLICE_S,
) -> AsyncIterator[ExportRow]:
    """Rows for windows starting in [since_s, until_s), by window start, then by group."""
    grouping = group.grouping_for(group_by)
    if until_s < since_s or slice_s < 1:
        raise InvalidSpecError("the export range ends before it starts")
    if catalog is None and group.needs_places(grouping):
        raise InvalidSpecError(f"grouping by {grouping.source} x {grouping.dest} needs a catalogue")
    for start in range(since_s, until_s, slice_s):
        query = StatsQuery(
            sources=None if sources is None else tuple(sources),
            since_s=start,
            until_s=min(until_s, start + slice_s),
        )
        windows = list(await store.fetch_windows(query))
        if not windows:
            continue
        places = None if catalog is None else await _place_index(catalog, windows, grouping)
        windows.sort(key=lambda w: (w.window_start_s, w.window_s))
        for (start_s, window_s), rows in groupby(
            windows, key=lambda w: (w.window_start_s, w.window_s)
        ):
            for g in group.group_windows(rows, grouping, places):
                yield _row(start_s, window_s, g)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A name starting like a formula would run as one in a spreadsheet (CSV injection).
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


async def export_lines(rows: AsyncIterator[ExportRow], fmt: ExportFormat) -> AsyncIterator[str]:
    """The rows as text lines: CSV with a header row, one JSON object per line, Influx line
    protocol (:mod:`~cloudperf_core.service.export_text`) or OpenMetrics (sorted by series
    through a temporary file, as the format needs; ``# EOF`` last)."""
    if fmt == "jsonl":
        encoder = msgspec.json.Encoder()
        async for row in rows:
            yield encoder.encode(row).decode() + "\n"
        return
    if fmt in ("influx", "openmetrics"):
        from cloudperf_core.service import export_text

        lines = export_text.influx_lines if fmt == "influx" else export_text.openmetrics_lines
        async for line in lines(rows):
            yield line
        return
    if fmt != "csv":
        raise InvalidSpecError(f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    async for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(getattr(row, c)) for c in EXPORT_COLUMNS])
        yield buffer.getvalue()
