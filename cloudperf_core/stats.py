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
- Sums (mean, stddev, jitter) are plain left-to-right float sums in probe order, so
  :func:`compute_stats_many` equals :func:`compute_stats` bit for bit on any Python version.

>>> from cloudperf_core.models import TargetResult
>>> s = compute_stats(TargetResult(target="a", rtts_us=[1000, None, 3000, 2000]))
>>> (s.sent, s.received, s.loss_ratio, s.p50_us, s.jitter_us)
(4, 3, 0.25, 2000.0, 1500.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import reduce
from itertools import chain, pairwise
from operator import add

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.gcpause import paused_gc
from cloudperf_core.models import LatencyStats, TargetResult

__all__ = [
    "PERCENTILES",
    "compute_stats",
    "compute_stats_many",
    "effective_counts",
    "loss_ratio",
    "percentile",
    "stats_in_ms",
    "us_to_ms",
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


def us_to_ms(value_us: float | None) -> float | None:
    """Microseconds to milliseconds, kept to microsecond precision (as the CLI prints)."""
    return None if value_us is None else round(value_us / 1000.0, 3)


def stats_in_ms(s: LatencyStats) -> dict[str, int | float | None]:
    """The fields every view of merged stats shows (API rows, exports): counts, the loss
    ratio to 6 places, RTTs in milliseconds as ``min_ms``, ``avg_ms`` .. ``p99_ms``."""
    return {
        "sent": s.sent,
        "received": s.received,
        "duplicates": s.duplicates,
        "loss_ratio": None if s.loss_ratio is None else round(s.loss_ratio, 6),
        "min_ms": us_to_ms(s.min_us),
        "avg_ms": us_to_ms(s.mean_us),
        "max_ms": us_to_ms(s.max_us),
        "stddev_ms": us_to_ms(s.stddev_us),
        "jitter_ms": us_to_ms(s.jitter_us),
        **{f"{name[:-3]}_ms": us_to_ms(getattr(s, name)) for name, _ in PERCENTILES},
    }


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
    mean = _running_sum(values) / n
    ordered = sorted(values)
    stats.min_us = ordered[0]
    stats.max_us = ordered[-1]
    stats.mean_us = mean
    stats.stddev_us = math.sqrt(_running_sum((v - mean) * (v - mean) for v in values) / n)
    if n >= 2:
        stats.jitter_us = _running_sum(abs(b - a) for a, b in pairwise(values)) / (n - 1)
    for name, q in PERCENTILES:
        setattr(stats, name, percentile(ordered, q))
    return stats


def compute_stats_many(results: Sequence[TargetResult]) -> list[LatencyStats]:
    """:func:`compute_stats` for many targets at once, vectorized with numpy.

    Equal to ``[compute_stats(r) for r in results]`` bit for bit (the same float operations
    in the same order). Built for 100k targets: one C-level conversion of all RTTs into a
    float array, numpy over one 2-D block per probe count, loss from vectorized counts, and
    one Python step per target only to build its result struct.
    """
    if not results:
        return []
    # Every struct allocation counts towards a cyclic-GC run (even though msgspec untracks
    # these), and a full run walks the caller's whole heap (e.g. the 100k parsed results).
    with paused_gc():
        return _compute_many(results)


_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]
#: Counts above this fall back to the scalar path: float64 then holds their differences exactly.
_EXACT_COUNT = 2.0**52
#: Rows of one length below which (or fewer than a quarter of the length) the scalar path wins:
#: the vectorized one costs a few numpy calls per probe position.
_MIN_BLOCK_ROWS = 16


def _compute_many(results: Sequence[TargetResult]) -> list[LatencyStats]:
    n = len(results)
    rows: list[Sequence[int | None] | None] = [r.rtts_us for r in results]
    has_rtts = np.ones(n, dtype=bool)
    if rows.count(None):  # -c mode, or names that never resolved
        has_rtts = np.fromiter((row is not None for row in rows), dtype=bool, count=n)
        rows = [() if row is None else row for row in rows]
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n)  # type: ignore[arg-type]
    # None -> nan in one C-level conversion; lost probes become nan.
    flat = np.array(list(chain.from_iterable(rows)), dtype=np.float64)  # type: ignore[arg-type]

    sent_given = [r.sent for r in results]
    received_given = [r.received for r in results]
    try:
        sent_f = np.array(sent_given, dtype=np.float64)  # None -> nan
        received_f = np.array(received_given, dtype=np.float64)
    except OverflowError:
        return [compute_stats(r) for r in results]
    if (np.abs(sent_f) > _EXACT_COUNT).any() or (np.abs(received_f) > _EXACT_COUNT).any():
        return [compute_stats(r) for r in results]

    cols = _Columns(n)
    starts = np.cumsum(lengths) - lengths
    scalar: list[int] = []  # targets in blocks too small for numpy to pay off
    for sel in _blocks_of_equal_length(lengths):
        length = int(lengths[sel[0]])
        if length == 0:
            continue
        if sel.size < _MIN_BLOCK_ROWS or sel.size * 4 < length:
            scalar.extend(sel.tolist())
            continue
        if sel.size == n:  # every target has this many probes: a view, no copy
            block = flat.reshape(n, length)
        else:
            block = flat[starts[sel, None] + np.arange(length)]
        cols.fill(sel, block)

    # fping's -c summary stands in where there were no per-probe values.
    if not has_rtts.all():
        no_rtts = np.flatnonzero(~has_rtts)
        picked = [results[i] for i in no_rtts.tolist()]
        cols.min_us[no_rtts] = np.array([r.min_us for r in picked], dtype=np.float64)
        cols.mean_us[no_rtts] = np.array([r.avg_us for r in picked], dtype=np.float64)
        cols.max_us[no_rtts] = np.array([r.max_us for r in picked], dtype=np.float64)

    # effective_counts and loss_ratio, vectorized (exact: counts are below 2**52).
    sent = np.where(np.isnan(sent_f), np.where(has_rtts, lengths, np.nan), sent_f)
    received = np.where(np.isnan(received_f), np.where(has_rtts, cols.received, np.nan), received_f)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = (sent - np.minimum(np.maximum(received, 0.0), sent)) / sent
    loss[(sent == 0) | np.isnan(sent) | np.isnan(received)] = np.nan
    # fping's own counts pass through as they are; derived or missing (-> 0) ones as ints.
    if np.isnan(sent_f).any():
        sent_given = np.nan_to_num(sent).astype(np.int64).tolist()
    if np.isnan(received_f).any():
        received_given = np.nan_to_num(received).astype(np.int64).tolist()

    LS = LatencyStats  # local name: one lookup, not one per target
    out = [
        LS(
            sent=s,
            received=r,
            duplicates=d,
            loss_ratio=lr,
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
        for s, r, d, lr, lo, mean, hi, sd, jit, q50, q70, q90, q95, q99 in zip(
            sent_given,
            received_given,
            [r.duplicates for r in results],
            nan_to_none(loss),
            nan_to_none(cols.min_us),
            nan_to_none(cols.mean_us),
            nan_to_none(cols.max_us),
            nan_to_none(cols.stddev_us),
            nan_to_none(cols.jitter_us),
            *(nan_to_none(p) for p in cols.percentiles),
            strict=True,
        )
    ]
    for i in scalar:
        out[i] = compute_stats(results[i])
    return out


def _blocks_of_equal_length(lengths: _Ints) -> list[_Ints]:
    """Indices of the targets, grouped by number of probe positions."""
    if lengths.size and lengths.min() == lengths.max():
        return [np.arange(lengths.size)]
    order = np.argsort(lengths, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1)


class _Columns:
    """Per-target result columns (nan = None), filled one block of equal-length rows at a time.

    Every formula repeats :func:`compute_stats` operation for operation, so the numbers are
    the same bit for bit: sums run left to right in probe order (a lost probe adds ``+0.0``,
    which changes no sum), percentiles use the same ``low + (h - k) * (high - low)``.
    """

    def __init__(self, n: int) -> None:
        self.received: _Ints = np.zeros(n, dtype=np.int64)
        self.min_us: _Floats = np.full(n, np.nan)
        self.mean_us: _Floats = np.full(n, np.nan)
        self.max_us: _Floats = np.full(n, np.nan)
        self.stddev_us: _Floats = np.full(n, np.nan)
        self.jitter_us: _Floats = np.full(n, np.nan)
        self.percentiles: list[_Floats] = [np.full(n, np.nan) for _ in PERCENTILES]

    def fill(self, sel: _Ints, block: _Floats) -> None:
        """Statistics of the rows of ``block`` (one target each, lost = nan) at ``sel``."""
        m, length = block.shape
        at: _Ints | slice = slice(None) if m == self.received.size else sel
        # One row per probe position: the running sums become one vector add per position.
        by_probe = np.ascontiguousarray(block.T)
        got = ~np.isnan(by_probe)
        count = got.sum(axis=0)
        self.received[at] = count
        work = np.where(got, by_probe, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):  # no received probe: nan
            mean = _running_total(work) / count
            np.subtract(by_probe, mean, out=work)
            np.multiply(work, work, out=work)
            np.fmax(work, 0.0, out=work)  # lost: nan -> 0, adds nothing
            self.stddev_us[at] = np.sqrt(_running_total(work) / count)
            jitter = _jitter_total(by_probe, got) / (count - 1)
        self.mean_us[at] = mean
        self.jitter_us[at] = np.where(count >= 2, jitter, np.nan)

        ordered = np.sort(block, axis=1).ravel()  # per row; nan (lost) sorts last
        row_start = np.arange(0, m * length, length)
        self.min_us[at] = ordered[row_start]  # nan when nothing was received
        self.max_us[at] = ordered[row_start + np.maximum(count - 1, 0)]
        # Rank arithmetic of percentile() once per possible count n = 0..length, looked up
        # per row: k, the fraction h - k, and whether x[k + 1] exists (else x[k] + f * 0).
        n = np.arange(length + 1)
        for (_, q), column in zip(PERCENTILES, self.percentiles, strict=True):
            h = q * (n - 1)
            k = np.floor(h)
            k_of = np.maximum(k, 0).astype(np.int64)  # n = 0: row of nan, value nan
            low_at = row_start + k_of[count]
            low = ordered[low_at]
            high = ordered[low_at + (k + 1 < n)[count]]
            column[at] = low + (h - k)[count] * (high - low)


def _running_total(by_probe: _Floats) -> _Floats:
    """Left-to-right sum over probe positions (rows), like Python's plain float ``sum``."""
    total: _Floats = by_probe[0].copy()
    for values in by_probe[1:]:
        total += values
    return total


def _jitter_total(by_probe: _Floats, got: npt.NDArray[np.bool_]) -> _Floats:
    """Sum of ``|b - a|`` over consecutive received RTTs ``a``, ``b`` of every target."""
    previous = by_probe[0].copy()  # latest received RTT so far; nan before the first
    total = np.zeros(previous.size)
    step = np.empty(previous.size)
    for values, received in zip(by_probe[1:], got[1:], strict=True):
        np.abs(np.subtract(values, previous, out=step), out=step)
        total += np.fmax(step, 0.0, out=step)  # nan (lost, or none before): adds nothing
        np.copyto(previous, values, where=received)
    return total


def nan_to_none(values: _Floats) -> list[float | None]:
    """Floats as a Python list with ``nan`` turned into ``None``."""
    column: list[float | None] = values.tolist()
    missing = np.flatnonzero(np.isnan(values))
    if missing.size == values.size:
        return [None] * values.size
    for i in missing.tolist():  # few: lost targets, or -c mode (where it is cheap anyway)
        column[i] = None
    return column


def _running_sum(values: Iterable[float]) -> float:
    """Plain left-to-right float sum.

    Python 3.12+ ``sum`` compensates rounding; a fixed order keeps this reference and the
    vectorized running sums of :func:`compute_stats_many` equal bit for bit on any Python.
    """
    return reduce(add, values, 0.0)


def _float_or_none(value: int | None) -> float | None:
    return None if value is None else float(value)
