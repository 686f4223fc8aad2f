"""Window aggregation: reports -> per (source, target, window) rows -> merged stats.

Grouping rows by place lives in :mod:`cloudperf_core.windows.group`.

A :class:`~cloudperf_core.models.WindowAggregate` holds exact counts, RTT sum, sum of squares,
min, max and jitter sums, plus a :class:`~cloudperf_core.sketch.LatencySketch` of the received
RTTs. Rows merge exactly (the sketch within its stated 1 % relative error on percentiles), in
any order, so stats over any time range or grouping come from merging rows, never from
averaging per-batch percentiles.

Conventions:

- A report's results fall into the window ``floor(started_at_ms / 1000 / window_s) *
  window_s``; the same target twice in one report gives one merged row.
- Jitter pairs are consecutive received RTTs within one batch (never across batches).
- A result with only fping's ``-c`` summary (no per-probe RTTs) adds its counts, min, max and
  ``avg * received`` to the sum, and ``avg**2 * received`` to the sum of squares (its spread is
  unknown, so it counts as zero); it adds nothing to the sketch or to jitter, so percentiles
  describe only results that had per-probe values.
- An empty ``sketch`` (``b""``) reads as an empty sketch.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import pairwise
from typing import TypeVar

import msgspec

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.limits import check_row
from cloudperf_core.models import (
    MeasurementReport,
    ReportWindows,
    TargetResult,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.sketch.merge import merge_groups, merge_serialized
from cloudperf_core.stats import effective_counts
from cloudperf_core.windows.batch import fast_path_fits, rows_from_arrays
from cloudperf_core.windows.summary import summarize

__all__ = [
    "WindowKey",
    "combine",
    "combine_all",
    "load_sketch",
    "merge_into",
    "merge_many",
    "merge_windows",
    "rewindow",
    "summarize",
    "window_key",
    "window_start",
    "windows_for_report",
    "windows_for_reports",
]

# Results per vectorized chunk: at most 2**10 probes each (fast_path_fits), so a chunk's numpy
# temporaries stay within tens of MB, while a chunk is big enough to amortize numpy's calls.
_CHUNK_RESULTS = 8192
_MAX_FLOAT = sys.float_info.max
K = TypeVar("K", bound=Hashable)


def window_start(timestamp_ms: int, window_s: int) -> int:
    """Start (epoch seconds) of the ``window_s`` window holding ``timestamp_ms``."""
    _check_window(window_s)
    return (timestamp_ms // 1000) // window_s * window_s


def window_key(row: WindowAggregate) -> WindowKey:
    """``(source, target, window_start_s, window_s)``: the identity of a stored row."""
    return (row.source, row.target, row.window_start_s, row.window_s)


def load_sketch(data: bytes) -> LatencySketch:
    """Decode a row's sketch; ``b""`` is an empty sketch. Raises ``SketchDecodeError``."""
    return LatencySketch.from_bytes(data) if data else LatencySketch()


def windows_for_report(report: MeasurementReport, window_s: int = 60) -> ReportWindows:
    """The window rows one report contributes (one per distinct target)."""
    return windows_for_reports((report,), window_s)[0]


def windows_for_reports(
    reports: Sequence[MeasurementReport], window_s: int = 60
) -> list[ReportWindows]:
    """:func:`windows_for_report` of each report, computed for all of them at once.

    Same rows as one report at a time, but the RTTs of up to ``_CHUNK_RESULTS`` results at a
    time go through one set of numpy calls, which is what makes ingest cheap (and keeps the
    memory it takes bounded however large a report is).
    """
    _check_window(window_s)
    starts = [window_start(r.started_at_ms, window_s) for r in reports]
    sources: list[str] = []
    start_of: list[int] = []
    results: list[TargetResult] = []
    for report, start in zip(reports, starts, strict=True):
        sources += [report.source] * len(report.results)
        start_of += [start] * len(report.results)
        results += report.results
    rows: list[WindowAggregate | None] = [None] * len(results)
    fast = [i for i, result in enumerate(results) if fast_path_fits(result)]
    # In chunks, so the numpy temporaries stay bounded however large a report is.
    for at in range(0, len(fast), _CHUNK_RESULTS):
        chunk = fast[at : at + _CHUNK_RESULTS]
        batch = rows_from_arrays(
            [sources[i] for i in chunk],
            [start_of[i] for i in chunk],
            [results[i] for i in chunk],
            window_s,
        )
        if batch is not None:
            for i, row in zip(chunk, batch, strict=True):
                rows[i] = row
    done: list[WindowAggregate] = [
        # The rest (summary-only results, unusual values) row by row: the reference path.
        row if row is not None else _result_window(sources[i], results[i], start_of[i], window_s)
        for i, row in enumerate(rows)
    ]
    out: list[ReportWindows] = []
    at = 0
    for report in reports:
        mine = done[at : at + len(report.results)]
        at += len(mine)
        if len({row.target for row in mine}) < len(mine):
            merged: dict[WindowKey, WindowAggregate] = {}
            merge_into(merged, mine)
            mine = list(merged.values())
        out.append(ReportWindows(report_id=report.report_id, windows=mine))
    return out


def _result_window(source: str, result: TargetResult, start: int, window_s: int) -> WindowAggregate:
    sent, received = effective_counts(result)
    row = WindowAggregate(
        source=source,
        target=result.target,
        window_start_s=start,
        window_s=window_s,
        sent=sent or 0,
        received=received or 0,
        duplicates=result.duplicates,
    )
    sketch = LatencySketch()
    if result.rtts_us is not None:
        values = [rtt for rtt in result.rtts_us if rtt is not None]
        if values:
            # Plain Python: batches are tens of probes, where numpy's call overhead dominates.
            row.rtt_sum_us = sum(values)
            row.rtt_sumsq_us2 = float(sum(v * v for v in values))  # exact ints, then float
            row.rtt_min_us = min(values)
            row.rtt_max_us = max(values)
            row.jitter_sum_us = sum(abs(b - a) for a, b in pairwise(values))
            row.jitter_pairs = len(values) - 1
            sketch.add_many(values)
    elif received and result.avg_us is not None:
        row.rtt_sum_us = result.avg_us * received
        row.rtt_sumsq_us2 = float(result.avg_us) ** 2 * received
        row.rtt_min_us = result.min_us if result.min_us is not None else result.avg_us
        row.rtt_max_us = result.max_us if result.max_us is not None else result.avg_us
    row.sketch = sketch.to_bytes()
    return row


def merge_windows(a: WindowAggregate, b: WindowAggregate) -> WindowAggregate:
    """A new row holding both rows' data; they must share source, target and window."""
    return merge_many((a, b))


def merge_many(rows: Iterable[WindowAggregate]) -> WindowAggregate:
    """A new row holding the data of every row (at least one; all with the same key).

    Equal to folding :func:`merge_windows` over ``rows`` left to right, but every sketch is
    read once and the result encoded once. Raises :class:`InvalidSpecError` for rows of
    different keys or window lengths, or no rows.
    """
    rows = rows if isinstance(rows, list | tuple) else list(rows)
    if not rows:
        raise InvalidSpecError("merge_many needs at least one row")
    _check_same_key(rows)
    return _merged_fields(rows, merge_serialized([row.sketch for row in rows]))


def _check_same_key(rows: Sequence[WindowAggregate]) -> None:
    first = rows[0]
    # window_key() inlined: this runs for every row of every ingest batch.
    key = (first.source, first.target, first.window_start_s, first.window_s)
    for row in rows:
        if (row.source, row.target, row.window_start_s, row.window_s) != key:
            raise InvalidSpecError(f"cannot merge window rows {key} and {window_key(row)}")


def _merged_fields(rows: Sequence[WindowAggregate], sketch: bytes) -> WindowAggregate:
    """Every row's counts and sums added left to right (same key checked), with ``sketch``."""
    first = rows[0]
    sent = received = duplicates = rtt_sum = jitter_sum = jitter_pairs = 0
    sumsq = 0.0
    lo: int | None = None
    hi: int | None = None
    dest: int | None = None
    for i, row in enumerate(rows):
        sent += row.sent
        received += row.received
        duplicates += row.duplicates
        rtt_sum += row.rtt_sum_us
        # Left to right, exactly as a chain of pairwise merges would add the floats.
        sumsq = row.rtt_sumsq_us2 if i == 0 else sumsq + row.rtt_sumsq_us2
        # min()/max() inlined (the hot loop of ingest): keep the first of equal values.
        value = row.rtt_min_us
        if value is not None and (lo is None or value < lo):
            lo = value
        value = row.rtt_max_us
        if value is not None and (hi is None or value > hi):
            hi = value
        jitter_sum += row.jitter_sum_us
        jitter_pairs += row.jitter_pairs
        if row.dest_location_id is not None:
            dest = row.dest_location_id  # the newest tag known wins
    merged = WindowAggregate(
        source=first.source,
        target=first.target,
        window_start_s=first.window_start_s,
        window_s=first.window_s,
        sent=sent,
        received=received,
        duplicates=duplicates,
        rtt_sum_us=rtt_sum,
        rtt_sumsq_us2=sumsq,
        rtt_min_us=lo,
        rtt_max_us=hi,
        jitter_sum_us=jitter_sum,
        jitter_pairs=jitter_pairs,
        sketch=sketch,
        dest_location_id=dest,
    )
    # A cheap screen on the locals: a negative or 2**63+ value sets bits from 63 up, and the
    # comparison is False for an infinite or nan float; limits.check_row decides and names
    # the row.
    if (sent | received | duplicates | jitter_pairs | rtt_sum | jitter_sum) >> 63 or not (
        sumsq <= _MAX_FLOAT
    ):
        check_row(merged)
    return merged


def combine(existing: WindowAggregate | None, new: Sequence[WindowAggregate]) -> WindowAggregate:
    """The stored row (if any) merged with every new row of its key, in one pass.

    Stores group a batch's rows by key and call this once per key, so each sketch is decoded
    once however many reports of the batch hit the same window.
    """
    rows = list(new) if existing is None else [existing, *new]
    return rows[0] if len(rows) == 1 else merge_many(rows)


def combine_all(
    pending: Mapping[K, Sequence[WindowAggregate]], stored: Mapping[K, WindowAggregate]
) -> dict[K, WindowAggregate]:
    """:func:`combine` of every key of a batch: ``{k: combine(stored.get(k), pending[k])}``.

    Same rows (same counts, same float sums, same sketch bytes) as one :func:`combine` per
    key, but the sketches of all keys are merged by one
    :func:`~cloudperf_core.sketch.merge.merge_groups` call (one set of numpy calls for the
    whole batch). Rows of different keys under one key raise :class:`InvalidSpecError` before
    anything is merged; a malformed sketch (a corrupt stored row) raises what :func:`combine`
    raises for it and fails the whole batch; so does a row whose counts or sums no store can
    hold (:class:`StoreLimitError`, see :mod:`cloudperf_core.limits`).

    >>> row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=1)
    >>> combine_all({"k": [row, row]}, {"k": row})["k"].sent
    3
    """
    out: dict[K, WindowAggregate] = {}
    many_keys: list[K] = []
    many_rows: list[list[WindowAggregate]] = []
    for key, new in pending.items():
        existing = stored.get(key)
        rows = list(new) if existing is None else [existing, *new]
        if len(rows) > 1:
            _check_same_key(rows)
            many_keys.append(key)
            many_rows.append(rows)
        else:
            out[key] = row = combine(existing, new)  # one row stays as it is
            check_row(row)
    sketches = merge_groups(
        [row.sketch for rows in many_rows for row in rows], [len(rows) for rows in many_rows]
    )
    for key, rows, sketch in zip(many_keys, many_rows, sketches, strict=True):
        out[key] = _merged_fields(rows, sketch)
    return {key: out[key] for key in pending}


def merge_into(rows: dict[WindowKey, WindowAggregate], new: Iterable[WindowAggregate]) -> None:
    """Merge ``new`` rows into ``rows`` (keyed by :func:`window_key`) in place.

    All rows of one key are merged in one :func:`merge_many` call (existing row first, then
    the new ones in order), so the result equals merging them one by one.
    """
    pending: dict[WindowKey, list[WindowAggregate]] = {}
    for row in new:
        key = window_key(row)
        group = pending.get(key)
        if group is None:
            existing = rows.get(key)
            pending[key] = [row] if existing is None else [existing, row]
        else:
            group.append(row)
    merged = {
        key: group[0] if len(group) == 1 else merge_many(group) for key, group in pending.items()
    }
    rows.update(merged)


def rewindow(window: WindowAggregate, window_s: int) -> WindowAggregate:
    """The same row in a coarser window (``window_s`` a multiple of the row's window)."""
    _check_window(window_s)
    if window_s % window.window_s:
        raise InvalidSpecError(
            f"window of {window_s}s is not a multiple of the row's {window.window_s}s"
        )
    start = window.window_start_s // window_s * window_s
    return msgspec.structs.replace(window, window_start_s=start, window_s=window_s)


def _check_window(window_s: int) -> None:
    if isinstance(window_s, bool) or not isinstance(window_s, int) or window_s <= 0:
        raise InvalidSpecError(f"window_s must be a positive integer, got {window_s!r}")
