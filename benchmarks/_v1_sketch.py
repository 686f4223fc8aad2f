"""Frozen copy of cloudperf_core/sketch.py at commit 6a896b8 (format v1): the "old path"
column of benchmarks/bench_aggregate.py. Do not edit or import outside the benchmarks.
"""

from __future__ import annotations

import math
import operator
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError, SketchDecodeError

__all__ = ["FORMAT_VERSION", "LatencySketch"]

FORMAT_VERSION = 1
_MIN_ACCURACY = 1e-4
_MAX_ACCURACY = 0.5
_MAX_VALUE = 2.0**63
_MAX_COUNT = 2**63 - 1
_F64 = struct.Struct("<d")
_SMALL = 64  # add_many switches to numpy above this many values

_FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=8)
def _bucket_bounds(relative_accuracy: float) -> tuple[_FloatArray, list[float]]:
    """Upper bounds ``gamma**i`` of every bucket needed for values in ``[1, 2**63)``.

    Bucket indices are looked up by exact comparison against this one table (numpy
    ``searchsorted`` for arrays, ``bisect`` on the same floats as a list for a few values),
    so a value lands in the same bucket on every path.
    """
    gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
    n = math.ceil(math.log(_MAX_VALUE) / math.log(gamma)) + 2
    bounds: _FloatArray = np.power(gamma, np.arange(n, dtype=np.float64))
    bounds.setflags(write=False)
    return bounds, bounds.tolist()


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

    def __init__(self, relative_accuracy: float = 0.01) -> None:
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

    def add(self, rtt_us: float, count: int = 1) -> None:
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
        """Compact binary form (format version byte first; varint, delta-coded buckets).

        Layout v1: ``version``, ``alpha`` (f64), ``count`` (varint); if ``count > 0``:
        ``min``, ``max``, ``sum`` (f64), ``zero count``, ``bucket count``, then per
        non-empty bucket the index delta to the previous one (the first is absolute) and
        its count, all varints.
        """
        out = bytearray((FORMAT_VERSION,))
        out += _F64.pack(self._alpha)
        _put_varint(out, self._count)
        if self._count == 0:
            return bytes(out)
        out += _F64.pack(self._min)
        out += _F64.pack(self._max)
        out += _F64.pack(self._sum)
        _put_varint(out, self._zero)
        buckets = self._buckets
        _put_varint(out, len(buckets))
        previous = 0
        for index in sorted(buckets):
            _put_varint(out, index - previous)
            _put_varint(out, buckets[index])
            previous = index
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> LatencySketch:
        """Decode :meth:`to_bytes` output; raises :class:`SketchDecodeError` on bad input."""
        try:
            return cls._decode(bytes(data))
        except SketchDecodeError:
            raise
        except (InvalidSpecError, ValueError, TypeError, OverflowError, struct.error) as exc:
            raise SketchDecodeError(f"malformed sketch: {exc}") from exc

    @classmethod
    def _decode(cls, data: bytes) -> LatencySketch:
        reader = _Reader(data)
        version = reader.byte()
        if version != FORMAT_VERSION:
            raise SketchDecodeError(f"unsupported sketch format version {version}")
        alpha = reader.f64()
        if not (_MIN_ACCURACY <= alpha <= _MAX_ACCURACY):
            raise SketchDecodeError(f"bad relative accuracy {alpha!r}")
        sketch = cls(alpha)
        count = reader.varint()
        if count == 0:
            reader.end()
            return sketch
        lo, hi, total = reader.f64(), reader.f64(), reader.f64()
        if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(total) and lo <= hi):
            raise SketchDecodeError("bad min/max/sum")
        zero = reader.varint()
        n_buckets = reader.varint()
        limit = len(sketch._bounds_list)
        if n_buckets > limit:
            raise SketchDecodeError("too many buckets")
        buckets = sketch._buckets
        index = 0
        seen = zero
        for i in range(n_buckets):
            delta = reader.varint()
            if i and delta == 0:
                raise SketchDecodeError("bucket indices not increasing")
            index += delta
            bucket_count = reader.varint()
            if index >= limit or bucket_count == 0:
                raise SketchDecodeError("bucket index out of range or empty bucket")
            seen += bucket_count
            if seen > count:
                raise SketchDecodeError("bucket counts exceed total count")
            buckets[index] = bucket_count
        reader.end()
        if seen != count:
            raise SketchDecodeError("bucket counts do not add up to the total count")
        sketch._zero, sketch._count = zero, count
        sketch._min, sketch._max, sketch._sum = lo, hi, total
        return sketch

    def __reduce__(self) -> tuple[Any, ...]:
        return (LatencySketch.from_bytes, (self.to_bytes(),))


def _put_varint(out: bytearray, value: int) -> None:
    """Unsigned LEB128."""
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Reader:
    """Bounds-checked cursor over serialized sketch bytes."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            raise SketchDecodeError("truncated sketch")
        value = self._data[self._pos]
        self._pos += 1
        return value

    def f64(self) -> float:
        if self._pos + 8 > len(self._data):
            raise SketchDecodeError("truncated sketch")
        (value,) = _F64.unpack_from(self._data, self._pos)
        self._pos += 8
        return float(value)

    def varint(self) -> int:
        result = 0
        for shift in range(0, 63, 7):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if result > _MAX_COUNT:
                    break
                return result
        raise SketchDecodeError("varint too long")

    def end(self) -> None:
        if self._pos != len(self._data):
            raise SketchDecodeError("trailing bytes after sketch")
