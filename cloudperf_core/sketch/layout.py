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
from typing import Any

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import SketchDecodeError

V1 = 1
V2 = 2
#: The relative accuracy every sketch cloudperf writes has (1 %); other accuracies are read
#: and merged with each other, but only this one takes the vectorized paths.
DEFAULT_ACCURACY = 0.01
MIN_ACCURACY = 1e-4
MAX_ACCURACY = 0.5
MAX_VALUE = 2.0**63
MAX_COUNT = 2**63 - 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
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
    indices: Sequence[int] | IntArray,
    counts: Sequence[int] | npt.NDArray[np.integer[Any]],
) -> bytes:
    """v2 bytes of one sketch from ascending bucket ``indices`` and their non-zero ``counts``
    (Python sequences or numpy arrays alike).

    :func:`encode_many` writes the same bytes for many sketches at once.
    """
    n = len(indices)
    start = head(alpha, count, lo, hi, total, zero, n)
    if count == 0 or n == 0:
        return start
    if isinstance(indices, np.ndarray):
        base = int(indices[0])
        oc = width_code(int(indices[-1]) - base)
        cc = width_code(int(np.max(counts)))
        offsets = (indices - base).astype(DTYPES[oc]).tobytes()
        table = np.asarray(counts).astype(DTYPES[cc]).tobytes()
    else:
        base = indices[0]
        oc = width_code(indices[-1] - base)
        cc = width_code(max(counts))
        offset_array = array(_CODES[oc], [i - base for i in indices] if base else indices)
        count_array = array(_CODES[cc], counts)
        if _BIG_ENDIAN:  # pragma: no cover - the layout is little-endian everywhere
            offset_array.byteswap()
            count_array.byteswap()
        offsets, table = offset_array.tobytes(), count_array.tobytes()
    return b"".join((start, _ONE_BYTE[oc | cc << 4], varint(base), offsets, table))


def encode_many(
    alpha: float,
    count: IntArray,
    zero: IntArray,
    lo: FloatArray,
    hi: FloatArray,
    total: FloatArray,
    owner: IntArray,
    indices: IntArray,
    counts: IntArray,
) -> list[bytes]:
    """:func:`encode` of many sketches at once, written into one buffer then sliced.

    Sketch ``s`` has ``count[s]`` samples, ``zero[s]`` of them in the zero bucket, and
    ``lo``/``hi``/``total`` as floats; its buckets are the entries ``e`` with
    ``owner[e] == s`` (``owner`` ascending, ``indices`` ascending within a sketch, ``counts``
    > 0). Same bytes as :func:`encode` of each sketch, for a fixed cost of a few dozen numpy
    calls: for one sketch, :func:`encode` is ~100x cheaper.
    """
    n_sketches = count.size
    n = np.bincount(owner, minlength=n_sketches).astype(np.int64)
    cuts = np.concatenate(([0], np.cumsum(n)))
    has = n > 0
    base = np.zeros(n_sketches, np.int64)
    spread = np.zeros(n_sketches, np.int64)
    biggest = np.zeros(n_sketches, np.int64)
    if owner.size:
        firsts = cuts[:-1][has]
        base[has] = indices[firsts]
        spread[has] = indices[cuts[1:][has] - 1] - base[has]
        biggest[has] = np.maximum.reduceat(counts, firsts)
    oc, cc = _width_codes(spread), _width_codes(biggest)
    wo, wc = 1 << oc, 1 << cc
    filled = count > 0
    tail = np.where(has, 1 + _varint_lens(base) + n * (wo + wc), 0)
    body = 24 + _varint_lens(zero) + _varint_lens(n) + tail
    size = 9 + _varint_lens(count) + np.where(filled, body, 0)
    at = np.cumsum(size) - size
    buf = np.zeros(int(size.sum()), np.uint8)
    buf[at[:, None] + np.arange(9)] = np.frombuffer(prefix(alpha), np.uint8)
    pos = at + 9
    pos += _write_varints(buf, pos, count)
    f = np.flatnonzero(filled)
    floats = np.stack((lo[f], hi[f], total[f]), axis=1).astype("<f8")
    buf[pos[f, None] + np.arange(24)] = floats.view(np.uint8).reshape(f.size, 24)
    pos[f] += 24
    pos[f] += _write_varints(buf, pos[f], zero[f])
    pos[f] += _write_varints(buf, pos[f], n[f])
    t = np.flatnonzero(filled & has)
    buf[pos[t]] = oc[t] | cc[t] << 4
    pos[t] += 1
    pos[t] += _write_varints(buf, pos[t], base[t])
    if owner.size:
        rank = np.arange(owner.size, dtype=np.int64) - cuts[owner]
        e_wo, e_wc = wo[owner], wc[owner]
        _write_le(buf, pos[owner] + rank * e_wo, indices - base[owner], e_wo)
        _write_le(buf, pos[owner] + n[owner] * e_wo + rank * e_wc, counts, e_wc)
    whole = buf.tobytes()
    return [whole[a:b] for a, b in zip(at.tolist(), (at + size).tolist(), strict=True)]


# Smallest value of each varint length from 2 bytes up, and of each width code from 1 up.
_VARINT_STEPS = np.array([1 << (7 * k) for k in range(1, 9)], dtype=np.int64)
_WIDTH_STEPS = np.array([0x100, 0x10000, 0x100000000], dtype=np.int64)


def _varint_lens(values: IntArray) -> IntArray:
    """Byte length of the LEB128 form of each value (all below ``2**63``)."""
    lens: IntArray = np.searchsorted(_VARINT_STEPS, values, side="right") + 1
    return lens


def _width_codes(values: IntArray) -> IntArray:
    """:func:`width_code` of each value."""
    codes: IntArray = np.searchsorted(_WIDTH_STEPS, values, side="right")
    return codes


def _write_varints(buf: Bytes, at: IntArray, values: IntArray) -> IntArray:
    """Write LEB128 ``values`` at ``at``; returns their lengths."""
    length = _varint_lens(values)
    for k in range(int(length.max(initial=0))):
        sel = np.flatnonzero(length > k) if k else np.arange(length.size)
        more = np.where(length[sel] > k + 1, 0x80, 0)
        buf[at[sel] + k] = ((values[sel] >> (7 * k)) & 0x7F) | more
    return length


def _write_le(buf: Bytes, at: IntArray, values: IntArray, width: IntArray) -> None:
    """Little-endian ``values`` of 1, 2, 4 or 8 bytes (``width`` each) at ``at``."""
    buf[at] = values & 0xFF
    for k in range(1, 8):
        wide = np.flatnonzero(width > k)
        if not wide.size:
            break
        buf[at[wide] + k] = (values[wide] >> (8 * k)) & 0xFF


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
