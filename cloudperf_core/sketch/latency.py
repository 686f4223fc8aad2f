"""A mergeable quantile sketch for RTTs (DDSketch-style logarithmic buckets).

Percentiles across batches, time windows and groups come from merged sketches, never from
averaged percentiles. The sketch keeps count, min, max and sum exactly and the distribution in
logarithmic buckets: bucket ``i`` holds values in ``(gamma**(i-1), gamma**i]`` with
``gamma = (1 + alpha) / (1 - alpha)`` and is read back as ``2 * gamma**i / (1 + gamma)``,
which is within relative error ``alpha`` of every value in the bucket.

Guarantee (``alpha = relative_accuracy``, default ``layout.DEFAULT_ACCURACY``, 1 %): for
samples that are ``0`` or ``>= 1`` µs, ``quantile(q)`` is within ``alpha`` relative error of
the *exact* quantile defined like :func:`cloudperf_core.stats.percentile` and numpy's default
``"linear"`` method (Hyndman-Fan type 7): with ``h = q * (n - 1)``, ``k = floor(h)``, the
value is ``x[k] + (h - k) * (x[k+1] - x[k])`` over the sorted samples ``x``. The sketch
estimates ``x[k]`` and ``x[k+1]`` each within ``alpha`` and interpolates the same way, so the
bound carries over (for non-negative values). Rank 0 and rank ``n - 1`` are the exact min and
max.

Values below 1 µs (RTTs are integer µs, so in practice only ``0``) go to a zero bucket read
back as ``0``: the absolute error there is below 1 µs, the storage resolution. Negative RTTs
(fping prints them after a clock step) are counted in the zero bucket too, while ``min`` and
``sum`` keep their exact value. Values must be finite and below ``2**63`` µs.

``count``, ``min``, ``max`` are exact; ``sum`` is exact for integer samples (float64 holds
integers exactly up to 2**53 µs, about 285 years). An empty sketch answers ``nan``.

>>> s = LatencySketch()
>>> s.add_many([1000, 2000, 3000])
>>> abs(s.quantile(0.5) - 2000) <= 0.01 * 2000
True
>>> LatencySketch.from_bytes(s.to_bytes()) == s
True
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError, SketchDecodeError
from cloudperf_core.sketch import layout as fmt

__all__ = ["FORMAT_VERSION", "LatencySketch"]

FORMAT_VERSION = fmt.V2  # written; v1 is still read
_MIN_ACCURACY = fmt.MIN_ACCURACY
_MAX_ACCURACY = fmt.MAX_ACCURACY
_MAX_VALUE = fmt.MAX_VALUE
_SMALL = 64  # add_many switches to numpy above this many values

_bucket_bounds = fmt.bucket_bounds


def _check_accuracy(relative_accuracy: float) -> float:
    alpha = float(relative_accuracy)
    if not (_MIN_ACCURACY <= alpha <= _MAX_ACCURACY):
        raise InvalidSpecError(
            f"relative_accuracy must be in [{_MIN_ACCURACY}, {_MAX_ACCURACY}], got {alpha!r}"
        )
    return alpha


class LatencySketch:
    """Mergeable RTT distribution with bounded relative error on quantiles (µs).

    Mutable: ``add``/``add_many``/``merge`` change it in place. Merging is associative and
    commutative (bucket counts and exact min/max/count add up in any order).
    """

    __slots__ = ("_alpha", "_bounds", "_bounds_list", "_buckets", "_count", "_gamma", "_max",
                 "_min", "_sum", "_zero")  # fmt: skip

    def __init__(self, relative_accuracy: float = fmt.DEFAULT_ACCURACY) -> None:
        self._alpha = _check_accuracy(relative_accuracy)
        self._gamma = (1.0 + self._alpha) / (1.0 - self._alpha)
        self._bounds, self._bounds_list = _bucket_bounds(self._alpha)
        # Sparse: bucket index -> count (never 0). Typical rows hold 5-50 buckets, so a dict
        # beats numpy's per-call overhead for the merge-many-small-sketches workload.
        self._buckets: dict[int, int] = {}
        self._zero = 0
        self._count = 0
        self._min = math.inf
        self._max = -math.inf
        self._sum = 0.0

    # --- properties ---------------------------------------------------------------------

    @property
    def relative_accuracy(self) -> float:
        """The relative error bound ``alpha`` of quantiles."""
        return self._alpha

    @property
    def count(self) -> int:
        """Number of samples added (exact)."""
        return self._count

    @property
    def min(self) -> float:
        """Smallest sample (exact); ``nan`` when empty."""
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        """Largest sample (exact); ``nan`` when empty."""
        return self._max if self._count else math.nan

    @property
    def sum(self) -> float:
        """Sum of the samples (exact for integer samples); ``0.0`` when empty."""
        return self._sum

    @property
    def mean(self) -> float:
        """``sum / count``; ``nan`` when empty."""
        return self._sum / self._count if self._count else math.nan

    @property
    def bucket_count(self) -> int:
        """Number of non-empty buckets (zero bucket included): drives the serialized size."""
        return len(self._buckets) + (1 if self._zero else 0)

    # --- adding -------------------------------------------------------------------------

    def add(self, rtt_us: float, count: int | np.integer[Any] = 1) -> None:
        """Add ``count`` samples of value ``rtt_us``."""
        try:
            # ints and numpy ints; not floats, not bools
            n = -1 if isinstance(count, bool) else operator.index(count)
        except TypeError:
            n = -1
        if n < 0:
            raise InvalidSpecError(f"count must be a non-negative integer, got {count!r}")
        count = n
        value = float(rtt_us)
        if not -_MAX_VALUE < value < _MAX_VALUE:  # False for nan too
            raise InvalidSpecError(f"RTT must be finite and below 2**63 µs, got {rtt_us!r}")
        if count == 0:
            return
        if value < 1.0:
            self._zero += count
        else:
            index = bisect_left(self._bounds_list, value)
            self._buckets[index] = self._buckets.get(index, 0) + count
        self._count += count
        self._sum += value * count
        self._min = min(self._min, value)
        self._max = max(self._max, value)

    def add_many(self, values: Iterable[float] | npt.NDArray[Any]) -> None:
        """Add every value of a sequence or numpy array (vectorized bucket lookup)."""
        if isinstance(values, np.ndarray):
            arr = values.astype(np.float64, copy=False).ravel()
        else:
            seq = values if isinstance(values, Sequence) else list(values)
            if len(seq) <= _SMALL:
                self._add_small(seq)
                return
            arr = np.asarray(seq, dtype=np.float64).ravel()
        if arr.size == 0:
            return
        if not bool((np.abs(arr) < _MAX_VALUE).all()):  # False for nan and inf too
            raise InvalidSpecError("RTTs must be finite and below 2**63 µs")
        positive = arr[arr >= 1.0]
        if positive.size:
            indices, counts = np.unique(
                np.searchsorted(self._bounds, positive, side="left"), return_counts=True
            )
            buckets = self._buckets
            for index, count in zip(indices.tolist(), counts.tolist(), strict=True):
                buckets[index] = buckets.get(index, 0) + count
        self._zero += int(arr.size - positive.size)
        self._count += int(arr.size)
        self._sum += float(arr.sum())
        self._min = min(self._min, float(arr.min()))
        self._max = max(self._max, float(arr.max()))

    def _add_small(self, seq: Sequence[float]) -> None:
        """``add_many`` for a few values: plain Python beats numpy's per-call overhead."""
        if not seq:
            return
        values = [float(v) for v in seq]
        # The chained comparison is False for nan too.
        if not all(-_MAX_VALUE < v < _MAX_VALUE for v in values):
            raise InvalidSpecError("RTTs must be finite and below 2**63 µs")
        total = math.fsum(values)
        buckets, bounds = self._buckets, self._bounds_list
        zero = 0
        for value in values:
            if value < 1.0:
                zero += 1
            else:
                index = bisect_left(bounds, value)
                buckets[index] = buckets.get(index, 0) + 1
        self._zero += zero
        self._count += len(values)
        self._sum += total
        self._min = min(self._min, *values)
        self._max = max(self._max, *values)

    def merge(self, other: LatencySketch) -> None:
        """Add every sample of ``other`` into this sketch (in place).

        Raises :class:`InvalidSpecError` if the sketches have different accuracies.
        """
        if not isinstance(other, LatencySketch):
            raise InvalidSpecError(f"cannot merge a {type(other).__name__} into a LatencySketch")
        if other._alpha != self._alpha:
            raise InvalidSpecError(
                f"cannot merge sketches of accuracy {self._alpha} and {other._alpha}"
            )
        if other._count == 0:
            return
        buckets = self._buckets
        for index, count in other._buckets.items():
            buckets[index] = buckets.get(index, 0) + count
        self._zero += other._zero
        self._count += other._count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def copy(self) -> LatencySketch:
        """An independent copy."""
        new = LatencySketch(self._alpha)
        new.merge(self)
        return new

    # --- quantiles ----------------------------------------------------------------------

    def quantile(self, q: float) -> float:
        """Value (µs) at quantile ``q`` in ``[0, 1]`` (type 7 rank, see module docstring).

        Returns ``nan`` for an empty sketch; raises :class:`InvalidSpecError` for ``q``
        outside ``[0, 1]``.
        """
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """:meth:`quantile` for several ``q`` at once (one pass over the buckets)."""
        for q in qs:
            if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
                raise InvalidSpecError(f"quantile must be within [0, 1], got {q!r}")
        if self._count == 0:
            return [math.nan for _ in qs]
        indices = sorted(self._buckets)
        cumulative = list(accumulate(self._buckets[i] for i in indices))
        out: list[float] = []
        for q in qs:
            h = float(q) * (self._count - 1)
            k = math.floor(h)
            low = self._value_at_rank(k, indices, cumulative)
            frac = h - k
            if frac == 0.0:
                out.append(low)
                continue
            high = self._value_at_rank(k + 1, indices, cumulative)
            out.append(min(max(low + frac * (high - low), self._min), self._max))
        return out

    def _value_at_rank(self, rank: int, indices: list[int], cumulative: list[int]) -> float:
        if rank <= 0:
            return self._min
        if rank >= self._count - 1:
            return self._max
        if rank < self._zero:
            value = 0.0
        else:
            index = indices[bisect_right(cumulative, rank - self._zero)]
            value = 2.0 * self._bounds_list[index] / (1.0 + self._gamma)
        # The exact value lies in [min, max], so clamping can only reduce the error.
        return min(max(value, self._min), self._max)

    # --- equality -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencySketch):
            return NotImplemented
        if (self._alpha, self._count, self._zero) != (other._alpha, other._count, other._zero):
            return False
        if self._count and (self._min, self._max, self._sum) != (
            other._min,
            other._max,
            other._sum,
        ):
            return False
        return self._buckets == other._buckets

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"LatencySketch(relative_accuracy={self._alpha}, count={self._count}, "
            f"min={self.min}, max={self.max}, buckets={self.bucket_count})"
        )

    # --- serialization ------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Compact binary form (format version byte first; layout in ``sketch.layout``).

        A 10-probe batch takes about 57 bytes, a sketch with every bucket from 1 µs to 100 s
        in use under 4 KiB. :meth:`from_bytes` also reads the previous (v1) layout.
        """
        buckets = self._buckets
        indices = sorted(buckets)
        return fmt.encode(
            self._alpha,
            self._count,
            self._min,
            self._max,
            self._sum,
            self._zero,
            indices,
            [buckets[i] for i in indices],
        )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> LatencySketch:
        """Decode :meth:`to_bytes` output; raises :class:`SketchDecodeError` on bad input."""
        try:
            alpha, count, lo, hi, total, zero, indices, counts = fmt.decode(bytes(data))
        except SketchDecodeError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise SketchDecodeError(f"malformed sketch: {exc}") from exc
        sketch = cls(alpha)
        if count:
            sketch._buckets = dict(zip(indices, counts, strict=True))
            sketch._zero, sketch._count = zero, count
            sketch._min, sketch._max, sketch._sum = lo, hi, total
        return sketch

    def __reduce__(self) -> tuple[Any, ...]:
        return (LatencySketch.from_bytes, (self.to_bytes(),))
