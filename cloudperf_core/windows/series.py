"""Window rows -> a time series for plots: one point per step, sketches merged per step.

Rows are re-windowed on the fly: every row falls into the step holding its start, so a step
must be a multiple of every row's window length (:func:`choose_step_s` picks one). Each
point's counts, min, max and mean are exact over its rows; its percentiles -- the deciles
p10..p90 plus p95 and p99 -- come from the rows' sketches merged (never averaged), within
the sketch's 1 % relative error.

>>> choose_step_s(86_400)   # a day in 288 points of five minutes
300
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import WindowAggregate
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.sketch.merge import merge_groups
from cloudperf_core.stats import loss_ratio

__all__ = [
    "MAX_POINTS",
    "NICE_STEPS_S",
    "SERIES_QUANTILES",
    "TARGET_POINTS",
    "SeriesPoint",
    "align",
    "choose_step_s",
    "series_points",
]

#: Steps a series may take (seconds); each divides the ones after it that it must divide
#: for stored window lengths (60 s, 1 h and 1 day after retention roll-ups).
NICE_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
                172_800, 604_800)  # fmt: skip
TARGET_POINTS = 300  # a chosen step gives at most this many points (about 100-300)
MAX_POINTS = 1000  # an explicit step may give at most this many
_DAY_S = 86_400
#: (SeriesPoint field, quantile): the deciles, then p95 and p99.
SERIES_QUANTILES: tuple[tuple[str, float], ...] = (
    *((f"p{d}0_us", d / 10) for d in range(1, 10)),
    ("p95_us", 0.95),
    ("p99_us", 0.99),
)


class SeriesPoint(msgspec.Struct, kw_only=True):
    """Merged stats of the rows starting in ``[start_s, start_s + step)`` (µs)."""

    start_s: int
    windows: int = 0
    sent: int = 0
    received: int = 0
    duplicates: int = 0
    loss_ratio: float | None = None
    min_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None
    p10_us: float | None = None
    p20_us: float | None = None
    p30_us: float | None = None
    p40_us: float | None = None
    p50_us: float | None = None
    p60_us: float | None = None
    p70_us: float | None = None
    p80_us: float | None = None
    p90_us: float | None = None
    p95_us: float | None = None
    p99_us: float | None = None


def _fits(step_s: int, window_lengths: Iterable[int]) -> bool:
    return all(step_s % w == 0 for w in window_lengths)


def choose_step_s(
    span_s: int, window_lengths: Iterable[int] = (), requested_s: int | None = None
) -> int:
    """The step of a series over ``span_s`` seconds that every window length divides.

    Without ``requested_s``: the smallest nice step (or whole number of days) giving at most
    :data:`TARGET_POINTS` points. With it: ``requested_s`` rounded up to a multiple of the
    window lengths' least common multiple (a step may not split a stored window).
    """
    if span_s <= 0:
        raise InvalidSpecError(f"a series needs a positive time range, not {span_s} s")
    lengths = set(window_lengths)
    if requested_s is not None:
        if requested_s < 1 or math.ceil(span_s / requested_s) > MAX_POINTS:
            raise InvalidSpecError(
                f"a step of {requested_s} s gives more than {MAX_POINTS} points; use a longer one"
            )
        unit = math.lcm(*lengths) if lengths else 1
        return -(-requested_s // unit) * unit
    least = math.ceil(span_s / TARGET_POINTS)
    for step in NICE_STEPS_S:
        if step >= least and _fits(step, lengths):
            return step
    days = math.ceil(least / _DAY_S)
    while not _fits(days * _DAY_S, lengths):
        days += 1
    return days * _DAY_S


def align(since_s: int, until_s: int, step_s: int) -> tuple[int, int]:
    """``[since, until)`` widened to whole steps."""
    return since_s - since_s % step_s, -(-until_s // step_s) * step_s


def series_points(
    windows: Sequence[WindowAggregate], since_s: int, until_s: int, step_s: int
) -> list[SeriesPoint]:
    """One point per step from ``since_s`` to ``until_s`` (both multiples of ``step_s``),
    empty steps included so plots show gaps; rows outside the range are ignored."""
    if step_s < 1 or since_s % step_s or until_s % step_s or until_s <= since_s:
        raise InvalidSpecError(f"not whole steps of {step_s} s: {since_s}..{until_s}")
    odd = {w.window_s for w in windows if step_s % w.window_s}
    if odd:
        raise InvalidSpecError(f"a step of {step_s} s cannot hold windows of {sorted(odd)} s")
    rows_of: dict[int, list[WindowAggregate]] = {}
    for row in windows:
        start = row.window_start_s - row.window_start_s % step_s
        if since_s <= start < until_s:
            rows_of.setdefault(start, []).append(row)
    starts = sorted(rows_of)
    sketches = merge_groups(
        [row.sketch for start in starts for row in rows_of[start]],
        [len(rows_of[start]) for start in starts],
    )
    merged = dict(zip(starts, sketches, strict=True))
    return [
        _point(start, rows_of.get(start, ()), merged.get(start, b""))
        for start in range(since_s, until_s, step_s)
    ]


def _point(start_s: int, rows: Sequence[WindowAggregate], sketch_bytes: bytes) -> SeriesPoint:
    point = SeriesPoint(start_s=start_s, windows=len(rows))
    if not rows:
        return point
    rtt_sum = 0
    lows = [r.rtt_min_us for r in rows if r.rtt_min_us is not None]
    highs = [r.rtt_max_us for r in rows if r.rtt_max_us is not None]
    for row in rows:
        point.sent += row.sent
        point.received += row.received
        point.duplicates += row.duplicates
        rtt_sum += row.rtt_sum_us
    point.loss_ratio = loss_ratio(point.sent, point.received)
    if lows and highs:
        point.min_us, point.max_us = float(min(lows)), float(max(highs))
        if point.received:
            point.mean_us = rtt_sum / point.received
    sketch = LatencySketch.from_bytes(sketch_bytes) if sketch_bytes else LatencySketch()
    if sketch.count:
        values = sketch.quantiles([q for _, q in SERIES_QUANTILES])
        for (name, _), value in zip(SERIES_QUANTILES, values, strict=True):
            setattr(point, name, value)
    return point
