"""Quantiles of many merged sketches at once (:class:`~cloudperf_core.sketch.merge.MergedTables`).

:func:`group_quantiles` gives, for every group the batch merge accepted, the floats
:meth:`LatencySketch.quantiles <cloudperf_core.sketch.latency.LatencySketch.quantiles>` gives
for that group's merged sketch, bit for bit: the same rank arithmetic (``h = q * (n - 1)``,
``k = floor(h)``), the same bucket value ``2 * gamma**i / (1 + gamma)``, the same
interpolation ``low + (h - k) * (high - low)`` and the same clamping to ``[min, max]`` with
Python's ``min``/``max`` semantics, as float64 operations over one array per quantile instead
of a Python loop per group. The bucket holding a rank is found by one ``searchsorted`` over
the running bucket counts of all groups laid end to end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.sketch import layout as fmt
from cloudperf_core.sketch.merge import MergedTables

__all__ = ["group_quantiles"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ALPHA = fmt.DEFAULT_ACCURACY  # the batch merge accepts this accuracy only
_GAMMA = (1.0 + _ALPHA) / (1.0 - _ALPHA)  # as LatencySketch computes it
# What LatencySketch._value_at_rank reads for bucket i, before clamping.
_BUCKET_VALUES: FloatArray = 2.0 * fmt.bucket_bounds(_ALPHA)[0] / (1.0 + _GAMMA)


def group_quantiles(merged: MergedTables, qs: Sequence[float]) -> FloatArray:
    """``out[g, j]``: quantile ``qs[j]`` of group ``g``'s merged sketch; ``nan`` for an empty
    group and for one ``merged.ok`` does not accept."""
    for q in qs:
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
            raise InvalidSpecError(f"quantile must be within [0, 1], got {q!r}")
    n_groups = merged.count.size
    out = np.full((n_groups, len(qs)), np.nan)
    live = np.flatnonzero(merged.ok & (merged.count > 0))
    if not live.size:
        return out
    count, zero = merged.count[live], merged.zero[live]
    lo, hi = merged.lo[live], merged.hi[live]
    # Running bucket counts of every group end to end; a group's ranks start after `before`.
    running = np.cumsum(merged.counts)
    entries = np.bincount(merged.owner, minlength=n_groups)
    starts = (np.cumsum(entries) - entries)[live]
    before = np.zeros(live.size, np.int64)
    later = np.flatnonzero(starts > 0)
    before[later] = running[starts[later] - 1]
    at = _Ranks(count, zero, lo, hi, before, running, merged.index)
    n_minus_1 = (count - 1).astype(np.float64)
    for j, q in enumerate(qs):
        h = float(q) * n_minus_1
        k = np.floor(h)
        frac = h - k
        rank = k.astype(np.int64)
        low = at.value(rank)
        high = at.value(rank + 1)
        mixed = _clamp(low + frac * (high - low), lo, hi)
        out[live, j] = np.where(frac == 0.0, low, mixed)
    return out


class _Ranks:
    """``LatencySketch._value_at_rank`` for one rank per group."""

    def __init__(
        self,
        count: IntArray,
        zero: IntArray,
        lo: FloatArray,
        hi: FloatArray,
        before: IntArray,
        running: IntArray,
        index: IntArray,
    ) -> None:
        self.count, self.zero, self.lo, self.hi = count, zero, lo, hi
        self.before, self.running, self.index = before, running, index

    def value(self, rank: IntArray) -> FloatArray:
        in_buckets = (rank > 0) & (rank < self.count - 1) & (rank >= self.zero)
        bucket_value = np.zeros(rank.size)
        if self.running.size and in_buckets.any():
            # bisect_right(cumulative, rank - zero) within the group's own entries.
            found = np.searchsorted(self.running, self.before + rank - self.zero, side="right")
            found = np.minimum(found, self.running.size - 1)
            bucket_value = np.where(in_buckets, _BUCKET_VALUES[self.index[found]], 0.0)
        value = _clamp(bucket_value, self.lo, self.hi)
        value = np.where(rank >= self.count - 1, self.hi, value)
        result: FloatArray = np.where(rank <= 0, self.lo, value)
        return result


def _clamp(values: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``min(max(value, lo), hi)`` with Python's choice among equal values (signed zeros)."""
    raised = np.where(lo > values, lo, values)
    clamped: FloatArray = np.where(hi < raised, hi, raised)
    return clamped
