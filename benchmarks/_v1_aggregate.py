"""Frozen copy of cloudperf_core/aggregate.py at commit 6a896b8 (pairwise merges, one row at
a time): the "old path" column of benchmarks/bench_aggregate.py. Do not edit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from itertools import pairwise

from benchmarks._v1_sketch import LatencySketch
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    GroupBy,
    GroupStats,
    LatencyStats,
    MeasurementReport,
    ReportWindows,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.stats import PERCENTILES, effective_counts, loss_ratio

__all__ = [
    "WindowKey",
    "group_stats",
    "load_sketch",
    "merge_into",
    "merge_windows",
    "rewindow",
    "summarize",
    "window_key",
    "window_start",
    "windows_for_report",
]

WindowKey = tuple[str, str, int]
_GROUP_BYS = ("pair", "target", "source", "overall")


def window_start(timestamp_ms: int, window_s: int) -> int:
    """Start (epoch seconds) of the ``window_s`` window holding ``timestamp_ms``."""
    _check_window(window_s)
    return (timestamp_ms // 1000) // window_s * window_s


def window_key(row: WindowAggregate) -> WindowKey:
    """``(source, target, window_start_s)``: the identity of a stored row."""
    return (row.source, row.target, row.window_start_s)


def load_sketch(data: bytes) -> LatencySketch:
    """Decode a row's sketch; ``b""`` is an empty sketch. Raises ``SketchDecodeError``."""
    return LatencySketch.from_bytes(data) if data else LatencySketch()


def windows_for_report(report: MeasurementReport, window_s: int = 60) -> ReportWindows:
    """The window rows one report contributes (one per distinct target)."""
    start = window_start(report.started_at_ms, window_s)
    rows: dict[WindowKey, WindowAggregate] = {}
    for result in report.results:
        merge_into(rows, (_result_window(report.source, result, start, window_s),))
    return ReportWindows(report_id=report.report_id, windows=list(rows.values()))


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
    if window_key(a) != window_key(b) or a.window_s != b.window_s:
        raise InvalidSpecError(
            f"cannot merge window rows {window_key(a)}/{a.window_s}s and "
            f"{window_key(b)}/{b.window_s}s"
        )
    sketch = load_sketch(a.sketch)
    sketch.merge(load_sketch(b.sketch))
    return WindowAggregate(
        source=a.source,
        target=a.target,
        window_start_s=a.window_start_s,
        window_s=a.window_s,
        sent=a.sent + b.sent,
        received=a.received + b.received,
        duplicates=a.duplicates + b.duplicates,
        rtt_sum_us=a.rtt_sum_us + b.rtt_sum_us,
        rtt_sumsq_us2=a.rtt_sumsq_us2 + b.rtt_sumsq_us2,
        rtt_min_us=_opt(min, a.rtt_min_us, b.rtt_min_us),
        rtt_max_us=_opt(max, a.rtt_max_us, b.rtt_max_us),
        jitter_sum_us=a.jitter_sum_us + b.jitter_sum_us,
        jitter_pairs=a.jitter_pairs + b.jitter_pairs,
        sketch=sketch.to_bytes(),
    )


def merge_into(rows: dict[WindowKey, WindowAggregate], new: Iterable[WindowAggregate]) -> None:
    """Merge ``new`` rows into ``rows`` (keyed by :func:`window_key`) in place."""
    for row in new:
        key = window_key(row)
        existing = rows.get(key)
        rows[key] = row if existing is None else merge_windows(existing, row)


def summarize(windows: Iterable[WindowAggregate]) -> LatencyStats:
    """Merged stats of any set of rows (different sources, targets and windows allowed).

    Counts, loss, min, max, mean and stddev are exact; jitter is the mean over all
    within-batch pairs; percentiles come from the merged sketch (<= 1 % relative error).
    """
    sent = received = duplicates = rtt_sum = jitter_sum = jitter_pairs = 0
    sumsq = 0.0
    lo: int | None = None
    hi: int | None = None
    sketch = LatencySketch()
    for row in windows:
        sent += row.sent
        received += row.received
        duplicates += row.duplicates
        rtt_sum += row.rtt_sum_us
        sumsq += row.rtt_sumsq_us2
        lo = _opt(min, lo, row.rtt_min_us)
        hi = _opt(max, hi, row.rtt_max_us)
        jitter_sum += row.jitter_sum_us
        jitter_pairs += row.jitter_pairs
        if row.sketch:
            sketch.merge(LatencySketch.from_bytes(row.sketch))
    stats = LatencyStats(
        sent=sent,
        received=received,
        duplicates=duplicates,
        loss_ratio=loss_ratio(sent, received),
    )
    if lo is not None and hi is not None:
        stats.min_us = float(lo)
        stats.max_us = float(hi)
    if received and lo is not None:
        mean = rtt_sum / received
        stats.mean_us = mean
        # Clamped: sum-of-squares arithmetic can dip a hair below zero for constant samples.
        stats.stddev_us = math.sqrt(max(sumsq / received - mean * mean, 0.0))
    if jitter_pairs:
        stats.jitter_us = jitter_sum / jitter_pairs
    if sketch.count:
        for (name, _), value in zip(
            PERCENTILES, sketch.quantiles([q for _, q in PERCENTILES]), strict=True
        ):
            setattr(stats, name, value)
    return stats


def group_stats(windows: Iterable[WindowAggregate], group_by: GroupBy) -> list[GroupStats]:
    """Merged stats per group: per (source, target) ``pair``, per ``target``, per
    ``source``, or one ``overall`` group; sorted by (source, target)."""
    if group_by not in _GROUP_BYS:
        raise InvalidSpecError(f"group_by must be one of {_GROUP_BYS}, got {group_by!r}")
    groups: dict[tuple[str | None, str | None], list[WindowAggregate]] = {}
    for row in windows:
        source = row.source if group_by in ("pair", "source") else None
        target = row.target if group_by in ("pair", "target") else None
        groups.setdefault((source, target), []).append(row)
    return [
        GroupStats(source=source, target=target, stats=summarize(rows), windows=len(rows))
        for (source, target), rows in sorted(
            groups.items(), key=lambda item: (item[0][0] or "", item[0][1] or "")
        )
    ]


def rewindow(window: WindowAggregate, window_s: int) -> WindowAggregate:
    """The same row in a coarser window (``window_s`` a multiple of the row's window)."""
    _check_window(window_s)
    if window_s % window.window_s:
        raise InvalidSpecError(
            f"window of {window_s}s is not a multiple of the row's {window.window_s}s"
        )
    start = window.window_start_s // window_s * window_s
    return WindowAggregate(
        source=window.source,
        target=window.target,
        window_start_s=start,
        window_s=window_s,
        sent=window.sent,
        received=window.received,
        duplicates=window.duplicates,
        rtt_sum_us=window.rtt_sum_us,
        rtt_sumsq_us2=window.rtt_sumsq_us2,
        rtt_min_us=window.rtt_min_us,
        rtt_max_us=window.rtt_max_us,
        jitter_sum_us=window.jitter_sum_us,
        jitter_pairs=window.jitter_pairs,
        sketch=window.sketch,
    )


def _check_window(window_s: int) -> None:
    if isinstance(window_s, bool) or not isinstance(window_s, int) or window_s <= 0:
        raise InvalidSpecError(f"window_s must be a positive integer, got {window_s!r}")


def _opt(pick: Callable[[int, int], int], a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)
