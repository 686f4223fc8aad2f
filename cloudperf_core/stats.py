"""Exact loss and latency statistics of one fping batch (raw samples, no sketch).

Definitions (DESIGN.md "Statistics"; part of the contract):

- ``sent``/``received``/``duplicates`` per target; ``loss_ratio = 1 - received / sent``
  clamped to [0, 1], ``None`` when nothing was sent. A duplicate reply is never a received
  probe. When fping printed no counts but did print per-probe values (``-C``), the counts are
  derived from those values: ``sent = len(rtts_us)``, ``received`` = non-lost entries.
- RTT figures are over the *received* RTTs, in microseconds:
  ``min``, ``max``, ``mean``; ``stddev`` is the **population** standard deviation
  (``ddof=0``, like :func:`statistics.pstdev`); ``jitter`` is the mean absolute difference of
  consecutive received RTTs in probe order, lost probes skipped (needs two received RTTs).
- Percentiles p50/p70/p90/p95/p99 use linear interpolation between closest ranks, numpy's
  default ``"linear"`` method (Hyndman-Fan type 7): over sorted ``x`` of length ``n``,
  ``h = q * (n - 1)``, ``k = floor(h)``, value ``x[k] + (h - k) * (x[k+1] - x[k])``.
- With no per-probe values but fping's summary (``-c`` mode), ``min``/``mean``/``max`` come
  from the summary and everything else stays ``None``.

>>> from cloudperf_core.models import TargetResult
>>> s = compute_stats(TargetResult(target="a", rtts_us=[1000, None, 3000, 2000]))
>>> (s.sent, s.received, s.loss_ratio, s.p50_us, s.jitter_us)
(4, 3, 0.25, 2000.0, 1500.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, pairwise

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import LatencyStats, TargetResult

__all__ = [
    "PERCENTILES",
    "compute_stats",
    "compute_stats_many",
    "effective_counts",
    "loss_ratio",
    "percentile",
]

#: (LatencyStats field, quantile) of every percentile cloudperf reports.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50_us", 0.50),
    ("p70_us", 0.70),
    ("p90_us", 0.90),
    ("p95_us", 0.95),
    ("p99_us", 0.99),
)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Type-7 (numpy "linear") quantile of already sorted values; ``q`` in [0, 1].

    >>> percentile([10, 20, 30, 40], 0.5)
    25.0
    """
    if not 0.0 <= q <= 1.0:
        raise InvalidSpecError(f"quantile must be within [0, 1], got {q!r}")
    n = len(sorted_values)
    if n == 0:
        raise InvalidSpecError("percentile of no values")
    h = q * (n - 1)
    k = math.floor(h)
    low = float(sorted_values[k])
    if k + 1 >= n:
        return low
    return low + (h - k) * (float(sorted_values[k + 1]) - low)


def effective_counts(result: TargetResult) -> tuple[int | None, int | None]:
    """``(sent, received)`` of a result, derived from per-probe values if fping gave none."""
    sent, received = result.sent, result.received
    if result.rtts_us is not None:
        if sent is None:
            sent = len(result.rtts_us)
        if received is None:
            received = sum(1 for rtt in result.rtts_us if rtt is not None)
    return sent, received


def loss_ratio(sent: int | None, received: int | None) -> float | None:
    """``1 - received / sent`` clamped to [0, 1]; ``None`` when nothing was sent."""
    if not sent or received is None:
        return None
    return (sent - min(max(received, 0), sent)) / sent


def compute_stats(result: TargetResult) -> LatencyStats:
    """Exact statistics of one target's batch (see the module docstring)."""
    sent, received = effective_counts(result)
    stats = LatencyStats(
        sent=sent or 0,
        received=received or 0,
        duplicates=result.duplicates,
        loss_ratio=loss_ratio(sent, received),
    )
    if result.rtts_us is None:
        stats.min_us = _float_or_none(result.min_us)
        stats.mean_us = _float_or_none(result.avg_us)
        stats.max_us = _float_or_none(result.max_us)
        return stats
    values = [float(rtt) for rtt in result.rtts_us if rtt is not None]
    if not values:
        return stats
    n = len(values)
    mean = sum(values) / n
    ordered = sorted(values)
    stats.min_us = ordered[0]
    stats.max_us = ordered[-1]
    stats.mean_us = mean
    stats.stddev_us = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    if n >= 2:
        stats.jitter_us = sum(abs(b - a) for a, b in pairwise(values)) / (n - 1)
    for name, q in PERCENTILES:
        setattr(stats, name, percentile(ordered, q))
    return stats


def compute_stats_many(results: Sequence[TargetResult]) -> list[LatencyStats]:
    """:func:`compute_stats` for many targets at once, vectorized with numpy.

    Same definitions and the same numbers (up to float rounding in the last bits); cheap over
    100k targets: the samples of all targets go into one flat array, sorted within each
    target's block in one numpy sort; no Python work per sample beyond building that array.
    """
    n_targets = len(results)
    if n_targets == 0:
        return []
    lengths = np.fromiter(
        (len(r.rtts_us) if r.rtts_us is not None else 0 for r in results),
        dtype=np.int64,
        count=n_targets,
    )
    # None -> nan in one C-level conversion; lost probes become nan.
    flat = np.array(
        list(chain.from_iterable(r.rtts_us for r in results if r.rtts_us is not None)),
        dtype=np.float64,
    )
    rows = np.repeat(np.arange(n_targets, dtype=np.int64), lengths)
    got = ~np.isnan(flat)
    values = flat[got]
    value_rows = rows[got]

    n_recv = np.bincount(value_rows, minlength=n_targets)
    sums = np.bincount(value_rows, weights=values, minlength=n_targets)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n_recv
    deviations = values - means[value_rows]
    variances = np.bincount(value_rows, weights=deviations * deviations, minlength=n_targets)
    with np.errstate(invalid="ignore", divide="ignore"):
        stddevs = np.sqrt(variances / n_recv)

    # Jitter: neighbours in the flat array of received values that belong to the same row are
    # consecutive received probes of that target (lost probes were removed above).
    same_row = value_rows[1:] == value_rows[:-1]
    steps = np.abs(np.diff(values))[same_row]
    jitter_sums = np.bincount(value_rows[1:][same_row], weights=steps, minlength=n_targets)
    with np.errstate(invalid="ignore", divide="ignore"):
        jitters = jitter_sums / (n_recv - 1)

    ordered = _sort_within_rows(values, value_rows)
    starts = np.concatenate(([0], np.cumsum(n_recv)[:-1]))
    have = n_recv > 0
    mins = np.full(n_targets, np.nan)
    maxs = np.full(n_targets, np.nan)
    mins[have] = ordered[starts[have]]
    maxs[have] = ordered[starts[have] + n_recv[have] - 1]
    jitters[n_recv < 2] = np.nan
    p50, p70, p90, p95, p99 = (_row_percentiles(ordered, starts, n_recv, q) for _, q in PERCENTILES)
    min_col, max_col, mean_col = _column(mins), _column(maxs), _column(means)
    # fping's -c summary stands in where there were no per-probe values (rare: few Python ops).
    for i, result in enumerate(results):
        if result.rtts_us is None:
            min_col[i] = _float_or_none(result.min_us)
            mean_col[i] = _float_or_none(result.avg_us)
            max_col[i] = _float_or_none(result.max_us)

    # One Python step per target (not per sample): counts, then the struct from ready columns.
    out: list[LatencyStats] = []
    columns = zip(
        results,
        lengths.tolist(),
        n_recv.tolist(),
        min_col,
        max_col,
        mean_col,
        *(_column(c) for c in (stddevs, jitters, p50, p70, p90, p95, p99)),
        strict=True,
    )
    for result, length, n_ok, lo, hi, mean, sd, jit, q50, q70, q90, q95, q99 in columns:
        sent, received = result.sent, result.received
        if result.rtts_us is not None:
            sent = length if sent is None else sent
            received = n_ok if received is None else received
        out.append(
            LatencyStats(
                sent=sent or 0,
                received=received or 0,
                duplicates=result.duplicates,
                loss_ratio=loss_ratio(sent, received),
                min_us=lo,
                mean_us=mean,
                max_us=hi,
                stddev_us=sd,
                jitter_us=jit,
                p50_us=q50,
                p70_us=q70,
                p90_us=q90,
                p95_us=q95,
                p99_us=q99,
            )
        )
    return out


def _column(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Floats as a Python list with ``nan`` turned into ``None`` (in C, no Python loop)."""
    column = values.astype(object)
    column[np.isnan(values)] = None
    result: list[float | None] = column.tolist()
    return result


def _sort_within_rows(
    values: npt.NDArray[np.float64], rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Values sorted by (row, value); ``rows`` is already non-decreasing."""
    if values.size == 0:
        return values
    low = float(values.min())
    span = float(values.max()) - low + 1.0
    # One float key row * span + offset keeps the rows in blocks (nearly sorted input, which
    # the stable sort handles in about linear time); it is exact only for integer RTTs that
    # fit in 2**52 together with the row number, otherwise fall back to lexsort (slower).
    if span * (float(rows[-1]) + 1.0) < 2.0**52 and bool(np.all(values == np.floor(values))):
        key = rows * span + (values - low)
        return values[np.argsort(key, kind="stable")]
    return values[np.lexsort((values, rows))]


def _row_percentiles(
    ordered: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    q: float,
) -> npt.NDArray[np.float64]:
    """Type-7 quantile of every row of a flat, row-grouped, per-row sorted array."""
    result = np.full(counts.size, np.nan)
    have = counts > 0
    n = counts[have]
    h = q * (n - 1)
    k = np.floor(h).astype(np.int64)
    k_next = np.minimum(k + 1, n - 1)
    base = starts[have]
    low = ordered[base + k]
    high = ordered[base + k_next]
    result[have] = low + (h - k) * (high - low)
    return result


def _float_or_none(value: int | None) -> float | None:
    return None if value is None else float(value)
