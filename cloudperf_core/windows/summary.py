"""Merged stats of groups of window rows: :func:`summarize_many` for many groups at once,
:func:`summarize` for one (the same function with one group).

Every group's :class:`~cloudperf_core.models.LatencyStats` is defined by the reference
:func:`summarize_rows`: counts and sums added row by row (integers exact, the float sum of
squares left to right), min/max, mean, stddev and jitter from those, percentiles from the
merged sketch. :func:`summarize_many` gives the same floats bit for bit, for all groups with
one set of numpy calls: integer columns summed with ``np.add.reduceat`` (exact below 2**53,
checked), the sum of squares added rank by rank in row order, the same divisions on the same
float64 values, and the sketches merged by
:func:`~cloudperf_core.sketch.merge.merge_tables` and read by
:func:`~cloudperf_core.sketch.quantiles.group_quantiles`. A group the batch cannot take
exactly (sums of 2**53 or more, sketches the batch merge rejects: v1, another accuracy,
malformed bytes) goes through :func:`summarize_rows`, which also raises the errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from cloudperf_core.models import LatencyStats, WindowAggregate
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.sketch.merge import merge_tables
from cloudperf_core.sketch.quantiles import group_quantiles
from cloudperf_core.stats import PERCENTILES, loss_ratio, nan_to_none

__all__ = ["FEW_ROWS", "summarize", "summarize_many", "summarize_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Up to this many rows in all, the reference path is cheaper than the batch's fixed cost.
FEW_ROWS = 32
#: Integers below 2**53 are exact as float64, so numpy's divisions equal Python's; the bound
#: is checked on a float sum of absolute values, hence the margin.
_EXACT = 2.0**52
#: Ranks added one numpy call each for all groups; longer groups go on one by one.
_RANK_STEPS = 64
_INT_COLUMNS = ("sent", "received", "duplicates", "rtt_sum_us", "jitter_sum_us", "jitter_pairs")
_QS = [q for _, q in PERCENTILES]


def summarize(windows: Iterable[WindowAggregate]) -> LatencyStats:
    """Merged stats of any set of rows (different sources, targets and windows allowed).

    Counts, loss, min, max, mean and stddev are exact; jitter is the mean over all
    within-batch pairs; percentiles come from the merged sketch (<= 1 % relative error).
    """
    rows = windows if isinstance(windows, list | tuple) else list(windows)
    return summarize_many([rows])[0]


def summarize_many(groups: Sequence[Sequence[WindowAggregate]]) -> list[LatencyStats]:
    """``[summarize_rows(g) for g in groups]``, bit for bit, computed for all groups at once."""
    if sum(map(len, groups)) <= FEW_ROWS:
        return [summarize_rows(g) for g in groups]
    filled = [g for g in groups if g]
    try:
        batch = _summarize_batch(filled)
    except OverflowError:  # a value beyond int64: no store holds one, the reference copes
        batch = [None] * len(filled)
    done = iter(batch)
    out: list[LatencyStats] = []
    for rows in groups:
        got = next(done) if rows else None
        out.append(got if got is not None else summarize_rows(rows))
    return out


def summarize_rows(windows: Iterable[WindowAggregate]) -> LatencyStats:
    """The reference: one row at a time, each sketch decoded and merged into one."""
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
        for (name, _), value in zip(PERCENTILES, sketch.quantiles(_QS), strict=True):
            setattr(stats, name, value)
    return stats


def _opt(pick: Callable[[int, int], int], a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


def _summarize_batch(groups: Sequence[Sequence[WindowAggregate]]) -> list[LatencyStats | None]:
    """Stats of every (non-empty) group; ``None`` for a group the batch cannot take exactly."""
    rows = [row for rows in groups for row in rows]
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    firsts = np.cumsum(sizes) - sizes
    n = len(rows)
    # Every integer column in one pass over the rows (OverflowError beyond int64).
    table = np.array(list(map(attrgetter(*_INT_COLUMNS), rows)), dtype=np.int64).reshape(n, -1)
    summed = np.add.reduceat(table, firsts, axis=0)
    exact = (np.add.reduceat(np.abs(table.astype(np.float64)), firsts, axis=0) < _EXACT).all(1)
    sums = {name: summed[:, i] for i, name in enumerate(_INT_COLUMNS)}
    lo, has_lo = _extreme(rows, "rtt_min_us", np.minimum, firsts)
    hi, has_hi = _extreme(rows, "rtt_max_us", np.maximum, firsts)
    sumsq = _running_sums(
        np.fromiter(map(attrgetter("rtt_sumsq_us2"), rows), dtype=np.float64, count=n),
        firsts,
        sizes,
    )
    merged = merge_tables([row.sketch for row in rows], sizes.tolist())
    exact &= merged.ok
    percentiles = group_quantiles(merged, _QS)

    sent, received = sums["sent"], sums["received"]
    pairs = sums["jitter_pairs"]
    f_received = received.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lost = sent - np.minimum(np.maximum(received, 0), sent)
        loss = np.where(sent != 0, lost / sent.astype(np.float64), np.nan)
        has_mean = (received != 0) & has_lo
        mean = np.where(has_mean, sums["rtt_sum_us"].astype(np.float64) / f_received, np.nan)
        spread = sumsq / f_received - mean * mean
        stddev = np.where(has_mean, np.sqrt(np.where(spread < 0.0, 0.0, spread)), np.nan)
        jitter = np.where(pairs != 0, sums["jitter_sum_us"] / pairs.astype(np.float64), np.nan)
    both = has_lo & has_hi
    min_us = np.where(both, lo.astype(np.float64), np.nan)
    max_us = np.where(both, hi.astype(np.float64), np.nan)
    LS = LatencyStats  # one lookup, not one per group
    stats: list[LatencyStats | None] = [
        LS(
            sent=s,
            received=r,
            duplicates=d,
            loss_ratio=lr,
            min_us=mn,
            mean_us=me,
            max_us=mx,
            stddev_us=sd,
            jitter_us=jit,
            p50_us=q50,
            p70_us=q70,
            p90_us=q90,
            p95_us=q95,
            p99_us=q99,
        )
        if ok
        else None
        for ok, s, r, d, lr, mn, me, mx, sd, jit, q50, q70, q90, q95, q99 in zip(
            exact.tolist(),
            sent.tolist(),
            received.tolist(),
            sums["duplicates"].tolist(),
            nan_to_none(loss),
            nan_to_none(min_us),
            nan_to_none(mean),
            nan_to_none(max_us),
            nan_to_none(stddev),
            nan_to_none(jitter),
            *(nan_to_none(percentiles[:, j]) for j in range(len(_QS))),
            strict=True,
        )
    ]
    return stats


def _extreme(
    rows: Sequence[WindowAggregate],
    name: str,
    pick: np.ufunc,
    firsts: IntArray,
) -> tuple[IntArray, BoolArray]:
    """Per group: ``pick`` (min or max) of the rows' non-None ``name``, and whether any."""
    values = list(map(attrgetter(name), rows))
    has = np.ones(len(values), np.bool_)
    if None in values:  # rows with no RTT (all lost): a C-level scan finds out
        has = np.array([v is not None for v in values], dtype=np.bool_)
        values = [0 if v is None else v for v in values]
    column = np.fromiter(values, dtype=np.int64, count=len(values))
    filler = np.iinfo(np.int64).max if pick is np.minimum else np.iinfo(np.int64).min
    picked: IntArray = pick.reduceat(np.where(has, column, filler), firsts)
    return picked, np.add.reduceat(has.astype(np.int64), firsts) > 0


def _running_sums(values: FloatArray, firsts: IntArray, sizes: IntArray) -> FloatArray:
    """``0.0 + v0 + v1 + ...`` per group, left to right in row order, like Python's ``+=``."""
    total = np.zeros(sizes.size)
    order = np.argsort(-sizes, kind="stable")  # longest first: groups of rank r lead
    descending = -sizes[order]
    for rank in range(min(int(sizes.max(initial=0)), _RANK_STEPS)):
        # Groups with more than `rank` rows, one numpy add for all of them.
        reach = int(np.searchsorted(descending, -rank, side="left"))
        sel = order[:reach]
        total[sel] += values[firsts[sel] + rank]
    for g in np.flatnonzero(sizes > _RANK_STEPS).tolist():
        start, stop = int(firsts[g]) + _RANK_STEPS, int(firsts[g] + sizes[g])
        # accumulate adds strictly left to right (a plain reduce may add pairwise).
        chain = np.concatenate(([total[g]], values[start:stop]))
        total[g] = np.add.accumulate(chain)[-1]
    return total
