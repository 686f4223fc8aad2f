"""Export rows as Influx line protocol (for Telegraf / InfluxDB) and as OpenMetrics text with
timestamps (for ``promtool tsdb create-blocks-from openmetrics``).

Influx: one line per row, measurement ``cloudperf``, tags ``source`` and ``dest`` (left out
when null or empty; control characters shown as ``\\xNN``; ``\\``, ``,``, ``=`` and space
backslash-escaped), integer fields ``sent received duplicates windows window_s``, float
fields ``loss_ratio`` and the ``*_ms`` figures (null ones left out), the window start in
nanoseconds.

OpenMetrics needs every sample of one series together, in time order, and every family in
one block, while rows come by time: the lines go through a temporary SQLite file on disk
and are read back sorted, so memory stays bounded whatever the range. Families (gauges, one
sample per window, the timestamp its start, labels ``source``, ``dest``, ``window_s``):
``cloudperf_window_probes_sent``, ``..._received``, ``..._duplicates``,
``cloudperf_window_loss_ratio``, ``cloudperf_window_rtt_seconds{stat=min|avg|max|stddev|
jitter|p50|p70|p90|p95|p99}``.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import TypeVar

import anyio.to_thread

from cloudperf_core.service.export import ExportRow

__all__ = ["INFLUX_MEASUREMENT", "OPENMETRICS_FAMILIES", "influx_lines", "openmetrics_lines"]

INFLUX_MEASUREMENT = "cloudperf"
_INT_FIELDS = ("sent", "received", "duplicates", "windows", "window_s")
_FLOAT_FIELDS = ("loss_ratio", "min_ms", "avg_ms", "max_ms", "stddev_ms", "jitter_ms",
                 "p50_ms", "p70_ms", "p90_ms", "p95_ms", "p99_ms")  # fmt: skip
_RTT_STATS = ("min", "avg", "max", "stddev", "jitter", "p50", "p70", "p90", "p95", "p99")
#: (name, type, unit, help) in the order they are written.
OPENMETRICS_FAMILIES = (
    ("cloudperf_window_probes_sent", "gauge", "", "Probes sent in the window"),
    ("cloudperf_window_probes_received", "gauge", "", "Replies received in the window"),
    ("cloudperf_window_probes_duplicates", "gauge", "", "Duplicate replies in the window"),
    ("cloudperf_window_loss_ratio", "gauge", "", "Loss in the window"),
    ("cloudperf_window_rtt_seconds", "gauge", "seconds",
     "RTT of the window: min/avg/max/stddev/jitter exact, pNN from the merged sketch"),
)  # fmt: skip
_BATCH = 2000
T = TypeVar("T")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _tag(text: str) -> str:
    out = _printable(text).replace("\\", "\\\\")
    for c in (",", "=", " "):
        out = out.replace(c, "\\" + c)
    return out


def influx_line(row: ExportRow) -> str:
    tags = "".join(
        f",{key}={_tag(value)}" for key, value in (("source", row.source), ("dest", row.dest))
        if value
    )  # fmt: skip
    fields = [f"{name}={getattr(row, name)}i" for name in _INT_FIELDS]
    fields += [
        f"{name}={getattr(row, name)!r}" for name in _FLOAT_FIELDS if getattr(row, name) is not None
    ]
    return f"{INFLUX_MEASUREMENT}{tags} {','.join(fields)} {row.window_start_s * 1_000_000_000}\n"


async def influx_lines(rows: AsyncIterator[ExportRow]) -> AsyncIterator[str]:
    async for row in rows:
        yield influx_line(row)


def _label(text: str | None) -> str:
    return (text or "").replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _samples(row: ExportRow) -> Iterator[tuple[int, str, str]]:
    """(family index, series labels, sample line) of one row."""
    labels = f'source="{_label(row.source)}",dest="{_label(row.dest)}",window_s="{row.window_s}"'
    ts = row.window_start_s
    values: list[tuple[int, str, float | int]] = [
        (0, labels, row.sent), (1, labels, row.received), (2, labels, row.duplicates),
    ]  # fmt: skip
    if row.loss_ratio is not None:
        values.append((3, labels, row.loss_ratio))
    for stat in _RTT_STATS:
        value_ms = getattr(row, f"{stat}_ms")
        if value_ms is not None:
            values.append((4, f'{labels},stat="{stat}"', value_ms / 1000))
    for fam, series, value in values:
        text = str(value) if isinstance(value, int) else repr(value)
        yield fam, series, f"{OPENMETRICS_FAMILIES[fam][0]}{{{series}}} {text} {ts}\n"


class _Spool:
    """Sample lines on disk, read back by (family, series, time)."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="cloudperf-export-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE s (fam INTEGER, series TEXT, ts INTEGER, seq INTEGER, line TEXT)"
        )

    def add(self, batch: list[tuple[int, str, int, int, str]]) -> None:
        self.db.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?)", batch)

    def sorted_cursor(self) -> sqlite3.Cursor:
        return self.db.execute("SELECT fam, line FROM s ORDER BY fam, series, ts, seq")

    def close(self) -> None:
        self.db.close()
        os.unlink(self.path)


async def _run(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


async def openmetrics_lines(rows: AsyncIterator[ExportRow]) -> AsyncIterator[str]:
    spool = await _run(_Spool)
    try:
        batch: list[tuple[int, str, int, int, str]] = []
        seq = 0
        async for row in rows:
            for fam, series, line in _samples(row):
                batch.append((fam, series, row.window_start_s, seq, line))
                seq += 1
            if len(batch) >= _BATCH:
                await _run(partial(spool.add, batch))
                batch = []
        if batch:
            await _run(partial(spool.add, batch))
        cursor = await _run(spool.sorted_cursor)
        written = -1
        while chunk := await _run(partial(cursor.fetchmany, _BATCH)):
            for fam, line in chunk:
                while written < fam:
                    written += 1
                    yield _metadata(written)
                yield line
        while written < len(OPENMETRICS_FAMILIES) - 1:
            written += 1
            yield _metadata(written)
        yield "# EOF\n"
    finally:
        await _run(spool.close)


def _metadata(fam: int) -> str:
    name, kind, unit, text = OPENMETRICS_FAMILIES[fam]
    unit_line = f"# UNIT {name} {unit}\n" if unit else ""
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n{unit_line}"
