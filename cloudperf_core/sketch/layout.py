"""Byte layout of :class:`~cloudperf_core.sketch.LatencySketch` (v2 written, v1 still read).

v2 stores the bucket table as two fixed-width little-endian arrays so it encodes and decodes
with one ``array``/numpy call each instead of a Python loop per bucket, and so many encoded
sketches can be merged by concatenating their tables (:func:`merge_serialized`)::

    u8 version (2) | f64 alpha | varint count
    if count:  f64 min | f64 max | f64 sum | varint zero | varint n
      if n:    u8 widths (low nibble: log2 offset width 0-2, high: log2 count width 0-3)
               varint base (smallest bucket index)
               n offsets ``index - base`` (strictly increasing, first 0), n counts (> 0)

Widths are the smallest that fit, so one sketch has one encoding. A 10-probe batch takes
~57 bytes; every bucket from 1 µs to 100 s with large counts stays under 4 KiB.

v1 (read only): ``version, alpha, count`` then ``min, max, sum, zero, n`` and per bucket the
index delta and count, all varints.
"""

from __future__ import annotations

import math
import operator
import struct
import sys
from array import array
from collections.abc import Sequence
from functools import lru_cache
from itertools import islice

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import SketchDecodeError

V1 = 1
V2 = 2
MIN_ACCURACY = 1e-4
MAX_ACCURACY = 0.5
MAX_VALUE = 2.0**63
MAX_COUNT = 2**63 - 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# (alpha, count, min, max, sum, zero, sorted bucket indices, their counts)
Decoded = tuple[float, int, float, float, float, int, list[int], list[int]]

_F64 = struct.Struct("<d")
_F64X3 = struct.Struct("<ddd")
_BIG_ENDIAN = sys.byteorder == "big"
# array typecodes and numpy dtypes by log2 of the byte width
_CODES = tuple(next(c for c in "BHILQ" if array(c).itemsize == 1 << k) for k in range(4))
DTYPES = ("<u1", "<u2", "<u4", "<u8")
_ONE_BYTE = [bytes((v,)) for v in range(0x80)]


@lru_cache(maxsize=8)
def bucket_bounds(relative_accuracy: float) -> tuple[FloatArray, list[float]]:
    """Upper bounds ``gamma**i`` of every bucket needed for values in ``[1, 2**63)``.

    Bucket indices are looked up by exact comparison against this one table (numpy
    ``searchsorted`` for arrays, ``bisect`` on the same floats as a list for a few values),
    so a value lands in the same bucket on every path.
    """
    gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
    n = math.ceil(math.log(MAX_VALUE) / math.log(gamma)) + 2
    bounds: FloatArray = np.power(gamma, np.arange(n, dtype=np.float64))
    bounds.setflags(write=False)
    return bounds, bounds.tolist()


@lru_cache(maxsize=8)
def prefix(alpha: float) -> bytes:
    """Version byte and accuracy: the same for every sketch of one accuracy."""
    return bytes((V2,)) + _F64.pack(alpha)


def varint(value: int) -> bytes:
    """Unsigned LEB128."""
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def width_code(max_value: int) -> int:
    """log2 of the smallest byte width (1, 2, 4, 8) holding ``max_value``."""
    if max_value < 0x100:
        return 0
    if max_value < 0x10000:
        return 1
    return 2 if max_value < 0x100000000 else 3


def head(alpha: float, count: int, lo: float, hi: float, total: float, zero: int, n: int) -> bytes:
    """Everything before the bucket table (the whole sketch when ``n == 0``)."""
    if count == 0:
        return prefix(alpha) + b"\x00"
    return b"".join(
        (prefix(alpha), varint(count), _F64X3.pack(lo, hi, total), varint(zero), varint(n))
    )


def encode(
    alpha: float,
    count: int,
    lo: float,
    hi: float,
    total: float,
    zero: int,
    indices: Sequence[int],
    counts: Sequence[int],
) -> bytes:
    """v2 bytes from ascending bucket ``indices`` and their non-zero ``counts``."""
    n = len(indices)
    start = head(alpha, count, lo, hi, total, zero, n)
    if count == 0 or n == 0:
        return start
    base = indices[0]
    oc = width_code(indices[-1] - base)
    cc = width_code(max(counts))
    offsets = array(_CODES[oc], [i - base for i in indices] if base else indices)
    table = array(_CODES[cc], counts)
    if _BIG_ENDIAN:  # pragma: no cover - the layout is little-endian everywhere
        offsets.byteswap()
        table.byteswap()
    return b"".join(
        (start, _ONE_BYTE[oc | cc << 4], varint(base), offsets.tobytes(), table.tobytes())
    )


def encode_arrays(
    alpha: float,
    count: int,
    lo: float,
    hi: float,
    total: float,
    zero: int,
    indices: IntArray,
    counts: npt.NDArray[np.uint64],
) -> bytes:
    """:func:`encode` from numpy arrays (same bytes)."""
    n = int(indices.size)
    start = head(alpha, count, lo, hi, total, zero, n)
    if count == 0 or n == 0:
        return start
    base = int(indices[0])
    oc = width_code(int(indices[-1]) - base)
    cc = width_code(int(counts.max()))
    return b"".join(
        (
            start,
            _ONE_BYTE[oc | cc << 4],
            varint(base),
            (indices - base).astype(DTYPES[oc]).tobytes(),
            counts.astype(DTYPES[cc]).tobytes(),
        )
    )


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, next position)``; raises ``IndexError`` when truncated."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    for shift in range(7, 63, 7):
        pos += 1
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result > MAX_COUNT:
                break
            return result, pos + 1
    raise SketchDecodeError("varint too long")


def check_accuracy(alpha: float) -> None:
    if not (MIN_ACCURACY <= alpha <= MAX_ACCURACY):  # False for nan too
        raise SketchDecodeError(f"bad relative accuracy {alpha!r}")


def read_header(data: bytes) -> tuple[float, int, float, float, float, int, int, int, int, int]:
    """Parse a v2 sketch up to its bucket table, checking what can be checked there.

    Returns ``(alpha, count, min, max, sum, zero, n, offset_code, count_code, base)`` and
    guarantees the table (at the end of ``data``) has exactly the right length.
    """
    try:
        (alpha,) = _F64.unpack_from(data, 1)
        check_accuracy(alpha)
        count, pos = read_varint(data, 9)
        if count == 0:
            if pos != len(data):
                raise SketchDecodeError("trailing bytes after sketch")
            return alpha, 0, math.inf, -math.inf, 0.0, 0, 0, 0, 0, 0
        lo, hi, total = _F64X3.unpack_from(data, pos)
        zero, pos = read_varint(data, pos + 24)
        n, pos = read_varint(data, pos)
        oc = cc = base = 0
        if n:
            widths = data[pos]
            oc, cc = widths & 0x0F, widths >> 4
            base, pos = read_varint(data, pos + 1)
    except (IndexError, struct.error) as exc:
        raise SketchDecodeError("truncated sketch") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(total) and lo <= hi):
        raise SketchDecodeError("bad min/max/sum")
    if oc > 2 or cc > 3:
        raise SketchDecodeError("bad bucket table widths")
    if n > len(bucket_bounds(alpha)[1]):
        raise SketchDecodeError("too many buckets")
    expected = pos + n * ((1 << oc) + (1 << cc))
    if expected != len(data):
        raise SketchDecodeError("truncated sketch" if expected > len(data) else "trailing bytes")
    if n == 0 and zero != count:
        raise SketchDecodeError("bucket counts do not add up to the total count")
    return alpha, count, lo, hi, total, zero, n, oc, cc, base


def decode(data: bytes) -> Decoded:
    """Parse and fully check v1 or v2 bytes; raises :class:`SketchDecodeError`."""
    if not data:
        raise SketchDecodeError("truncated sketch")
    if data[0] == V1:
        return _decode_v1(data)
    if data[0] != V2:
        raise SketchDecodeError(f"unsupported sketch format version {data[0]}")
    alpha, count, lo, hi, total, zero, n, oc, cc, base = read_header(data)
    if n == 0:
        return alpha, count, lo, hi, total, zero, [], []
    split = len(data) - n * (1 << cc)
    offsets = array(_CODES[oc], data[split - n * (1 << oc) : split])
    table = array(_CODES[cc], data[split:])
    if _BIG_ENDIAN:  # pragma: no cover
        offsets.byteswap()
        table.byteswap()
    counts = table.tolist()
    offs = offsets.tolist()
    if offs[0] != 0 or not all(map(operator.lt, offs, islice(offs, 1, None))):
        raise SketchDecodeError("bucket indices not increasing")
    if base + offs[-1] >= len(bucket_bounds(alpha)[1]) or 0 in counts:
        raise SketchDecodeError("bucket index out of range or empty bucket")
    if sum(counts) + zero != count:
        raise SketchDecodeError("bucket counts do not add up to the total count")
    indices = [base + o for o in offs] if base else offs
    return alpha, count, lo, hi, total, zero, indices, counts


def _decode_v1(data: bytes) -> Decoded:
    try:
        (alpha,) = _F64.unpack_from(data, 1)
        check_accuracy(alpha)
        count, pos = read_varint(data, 9)
        indices: list[int] = []
        counts: list[int] = []
        if count == 0:
            lo, hi, total, zero = math.inf, -math.inf, 0.0, 0
        else:
            lo, hi, total = _F64X3.unpack_from(data, pos)
            if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(total)):
                raise SketchDecodeError("bad min/max/sum")
            if lo > hi:
                raise SketchDecodeError("bad min/max/sum")
            zero, pos = read_varint(data, pos + 24)
            n, pos = read_varint(data, pos)
            limit = len(bucket_bounds(alpha)[1])
            if n > limit:
                raise SketchDecodeError("too many buckets")
            index, seen = 0, zero
            for i in range(n):
                delta, pos = read_varint(data, pos)
                if i and delta == 0:
                    raise SketchDecodeError("bucket indices not increasing")
                index += delta
                bucket_count, pos = read_varint(data, pos)
                if index >= limit or bucket_count == 0:
                    raise SketchDecodeError("bucket index out of range or empty bucket")
                seen += bucket_count
                if seen > count:
                    raise SketchDecodeError("bucket counts exceed total count")
                indices.append(index)
                counts.append(bucket_count)
            if seen != count:
                raise SketchDecodeError("bucket counts do not add up to the total count")
    except (IndexError, struct.error) as exc:
        raise SketchDecodeError("truncated sketch") from exc
    if pos != len(data):
        raise SketchDecodeError("trailing bytes after sketch")
    return alpha, count, lo, hi, total, zero, indices, counts
