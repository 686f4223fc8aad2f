"""Merge the sketches of many groups at once: one set of numpy calls for a whole batch.

``merge_groups(blobs, sizes)`` takes the serialized sketches of every window key of an ingest
batch, laid end to end (``sizes[g]`` consecutive blobs belong to group ``g``), and returns
each group's merged v2 bytes -- the same bytes as decoding, merging and re-encoding the
group (:func:`cloudperf_core.windows.aggregate.merge_many`) -- or ``None`` for a group that
needs that exact per-group path.

How: every blob is joined into one buffer and its v2 header read at computed positions
(varints one byte column at a time), every bucket table gathered into one entry array, checked
with the rules of ``LatencySketch.from_bytes``, merged by one sort of ``group * buckets +
index`` and one ``np.add.reduceat``, and every output written into one buffer then sliced.

This path never raises on bad input: a group with any blob it does not fully accept -- v1,
another accuracy, 8-byte counts, varints of 5 bytes or more, non-integer or ``-0.0`` floats,
anything malformed -- gets ``None``, so the caller's exact path validates it and raises the
exact error. With integer-valued floats whose absolute sum stays below 2**53, every partial sum
is exact, so the merged float sum does not depend on the order of the additions (the reference
adds left to right), nor min/max without signed zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cloudperf_core.sketch import layout as fmt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Bytes = npt.NDArray[np.uint8]

_ALPHA = 0.01  # the accuracy ingest writes; others take the exact path
_PREFIX = np.frombuffer(fmt.prefix(_ALPHA), np.uint8)
_LIMIT = len(fmt.bucket_bounds(_ALPHA)[1])
_VARINT_BYTES = 4  # longer varints (values >= 2**28) take the exact path
_PAD = 64  # > the longest header, so reads past a truncated last blob stay in the buffer
_EXACT_FLOAT = 2.0**53


def merge_groups(blobs: Sequence[bytes], sizes: Sequence[int]) -> list[bytes | None]:
    """Merged v2 bytes of each group of consecutive ``blobs`` (``None``: use the exact path).

    Every size must be at least 1 and the sizes must add up to ``len(blobs)``.
    """
    n_groups = len(sizes)
    if not n_groups:
        return []
    size = np.asarray(sizes, dtype=np.int64)
    owner = np.repeat(np.arange(n_groups, dtype=np.int64), size)
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    data: Bytes = np.frombuffer(b"".join(blobs) + bytes(_PAD), dtype=np.uint8)
    h = _Headers(data, lengths)
    blob_of, index, count_of, bad = _tables(data, h)
    ok = h.ok & (np.bincount(blob_of[bad], minlength=len(lengths)) == 0)
    group_ok = np.bincount(owner[~ok], minlength=n_groups) == 0
    # Per-group sums; fields of rejected blobs are garbage, zeroed (their groups are dropped).
    nonempty = ok & (h.count > 0)
    firsts = np.cumsum(size) - size
    count = np.add.reduceat(np.where(nonempty, h.count, 0), firsts)
    zero = np.add.reduceat(np.where(nonempty, h.zero, 0), firsts)
    lo = np.minimum.reduceat(np.where(nonempty, h.lo, np.inf), firsts)
    hi = np.maximum.reduceat(np.where(nonempty, h.hi, -np.inf), firsts)
    total = np.add.reduceat(np.where(nonempty, h.total, 0.0), firsts)
    group_ok &= np.add.reduceat(np.where(nonempty, np.abs(h.total), 0.0), firsts) < _EXACT_FLOAT
    # Bucket tables of accepted groups: sort by (group, index), add up equal keys.
    e_group = owner[blob_of]
    keep = group_ok[e_group]
    keys = e_group[keep] * _LIMIT + index[keep]
    order = np.argsort(keys)
    keys, counts = keys[order], count_of[keep][order]
    if keys.size:
        first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        keys, counts = keys[first], np.add.reduceat(counts, first)
    return _encode(group_ok, count, zero, lo, hi, total, keys // _LIMIT, keys % _LIMIT, counts)


class _Headers:
    """Fields of every blob's v2 header; garbage where ``ok`` is false."""

    def __init__(self, data: Bytes, lengths: IntArray) -> None:
        starts = np.cumsum(lengths) - lengths
        ends = starts + lengths
        version_ok = data[starts] == fmt.V2
        alpha = _gather(data, starts + 1, 8).view("<f8")[:, 0]
        count, at, count_ok = _read_varints(data, starts + 9)
        empty_ok = at == ends  # a count of 0 ends the sketch
        floats = _gather(data, at, 24).view("<f8")
        lo, hi, total = floats[:, 0], floats[:, 1], floats[:, 2]
        zero, at, zero_ok = _read_varints(data, at + 24)
        n, at, n_ok = _read_varints(data, at)
        widths = data[at].astype(np.int64)
        oc, cc = widths & 0x0F, widths >> 4
        base, after_base, base_ok = _read_varints(data, at + 1)
        table = n > 0
        table_at = np.where(table, after_base, at)
        widths_ok = ~table | (base_ok & (oc <= 2) & (cc <= 2))  # 8-byte counts: exact path
        offset_bytes = 1 << np.minimum(oc, 2)
        count_bytes = 1 << np.minimum(cc, 2)
        n = np.minimum(n, _LIMIT + 1)
        with np.errstate(invalid="ignore"):
            floats_ok = (
                np.isfinite(floats).all(axis=1)
                & (lo <= hi)
                & (total == np.floor(total))
                & ~_negative_zero(lo)
                & ~_negative_zero(hi)
                & ~_negative_zero(total)
            )
        full = (
            zero_ok
            & n_ok
            & widths_ok
            & floats_ok
            & (n <= _LIMIT)
            & (table_at + n * (offset_bytes + count_bytes) == ends)
            & (table | (zero == count))
        )
        checked = (lengths > 0) & version_ok & (alpha == _ALPHA) & count_ok
        checked &= np.where(count == 0, empty_ok, full)
        self.ok: BoolArray = (lengths == 0) | checked  # b"": empty sketch of the default alpha
        self.count: IntArray = np.where(checked, count, 0)
        self.zero = zero
        self.lo, self.hi, self.total = lo, hi, total
        self.n: IntArray = np.where(checked & (count > 0), n, 0)
        self.base = base
        self.table_at = table_at
        self.offset_bytes, self.count_bytes = offset_bytes, count_bytes


def _tables(data: Bytes, h: _Headers) -> tuple[IntArray, IntArray, IntArray, BoolArray]:
    """Every bucket of every accepted table: (its blob, bucket index, count, bad entry)."""
    n = h.n
    blob_of = np.repeat(np.arange(n.size, dtype=np.int64), n)
    rank = np.arange(blob_of.size, dtype=np.int64) - (np.cumsum(n) - n)[blob_of]
    wo, wc = h.offset_bytes[blob_of], h.count_bytes[blob_of]
    offsets_at = h.table_at[blob_of] + rank * wo
    offsets = _read_le(data, offsets_at, wo)
    counts = _read_le(data, h.table_at[blob_of] + n[blob_of] * wo + rank * wc, wc)
    index = h.base[blob_of] + offsets
    first = rank == 0
    bad = (first & (offsets != 0)) | (index >= _LIMIT) | (counts == 0)
    if offsets.size > 1:
        bad[1:] |= ~first[1:] & (offsets[1:] <= offsets[:-1])
    # Table sums below 2**32 * _LIMIT < 2**53: exact as float64 bincount weights.
    sums = np.bincount(blob_of, weights=counts, minlength=n.size)
    wrong_sum = (n > 0) & (sums != (h.count - h.zero))
    bad_blobs = np.flatnonzero(wrong_sum)
    # Mark a wrong sum on the blob's first entry, so one `bad` array tells every fault.
    bad[(np.cumsum(n) - n)[bad_blobs]] = True
    return blob_of, index, counts, bad


def _encode(
    ok: BoolArray,
    count: IntArray,
    zero: IntArray,
    lo: FloatArray,
    hi: FloatArray,
    total: FloatArray,
    e_group: IntArray,
    e_index: IntArray,
    e_count: IntArray,
) -> list[bytes | None]:
    """v2 bytes of every accepted group (see ``_sketch_format``), written into one buffer."""
    n_groups = ok.size
    n = np.bincount(e_group, minlength=n_groups).astype(np.int64)
    cuts = np.concatenate(([0], np.cumsum(n)))
    has = n > 0
    base = np.zeros(n_groups, np.int64)
    spread = np.zeros(n_groups, np.int64)
    biggest = np.zeros(n_groups, np.int64)
    if e_group.size:
        base[has] = e_index[cuts[:-1][has]]
        spread[has] = e_index[cuts[1:][has] - 1] - base[has]
        biggest[has] = np.maximum.reduceat(e_count, cuts[:-1][has])
    oc, cc = _width_code(spread), _width_code(biggest)
    wo, wc = 1 << oc, 1 << cc
    filled = ok & (count > 0)
    tail = np.where(has, 1 + _varint_len(base) + n * (wo + wc), 0)
    body = 24 + _varint_len(zero) + _varint_len(n) + tail
    size = np.where(ok, 9 + _varint_len(count) + np.where(filled, body, 0), 0)
    at = np.cumsum(size) - size
    buf = np.zeros(int(size.sum()), np.uint8)
    g = np.flatnonzero(ok)
    buf[at[g, None] + np.arange(9)] = _PREFIX
    pos = at + 9
    pos[g] += _write_varints(buf, pos[g], count[g])
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
    if e_group.size:
        rank = np.arange(e_group.size, dtype=np.int64) - cuts[e_group]
        e_wo, e_wc = wo[e_group], wc[e_group]
        _write_le(buf, pos[e_group] + rank * e_wo, e_index - base[e_group], e_wo)
        _write_le(buf, pos[e_group] + n[e_group] * e_wo + rank * e_wc, e_count, e_wc)
    whole = buf.tobytes()
    ends = (at + size).tolist()
    return [
        whole[a:b] if keep else None
        for a, b, keep in zip(at.tolist(), ends, ok.tolist(), strict=True)
    ]


def _gather(data: Bytes, at: IntArray, width: int) -> Bytes:
    """``width`` bytes from each position, one row per position (a fresh, contiguous array)."""
    rows: Bytes = data[at[:, None] + np.arange(width)]
    return rows


def _read_varints(data: Bytes, at: IntArray) -> tuple[IntArray, IntArray, BoolArray]:
    """LEB128 values at ``at``: (value, position after it, fits in ``_VARINT_BYTES``)."""
    first = data[at].astype(np.int64)
    values: IntArray = first & 0x7F
    length = np.ones(at.shape, np.int64)
    fits = np.ones(at.shape, np.bool_)
    longer = np.flatnonzero(first >= 0x80)  # most are one byte: only these need the rest
    if longer.size:
        raw = _gather(data, at[longer], _VARINT_BYTES).astype(np.int64)
        last = raw < 0x80
        fits[longer] = last.any(axis=1)
        length[longer] = np.argmax(last, axis=1) + 1
        used = np.arange(_VARINT_BYTES) < length[longer, None]
        shifts = 7 * np.arange(_VARINT_BYTES, dtype=np.int64)
        values[longer] = (((raw & 0x7F) << shifts) * used).sum(axis=1)
    return values, at + length, fits


def _read_le(data: Bytes, at: IntArray, width: IntArray) -> IntArray:
    """Little-endian unsigned values of 1, 2 or 4 bytes."""
    values = data[at].astype(np.int64)
    for k in (1, 2, 3):
        wide = np.flatnonzero(width > k)
        if wide.size:
            values[wide] |= data[at[wide] + k].astype(np.int64) << (8 * k)
    return values


def _write_le(buf: Bytes, at: IntArray, values: IntArray, width: IntArray) -> None:
    buf[at] = values & 0xFF
    for k in range(1, 8):
        wide = np.flatnonzero(width > k)
        if not wide.size:
            break
        buf[at[wide] + k] = (values[wide] >> (8 * k)) & 0xFF


def _varint_len(values: IntArray) -> IntArray:
    out = np.ones(values.shape, np.int64)
    for k in range(1, 9):
        out += values >= 1 << (7 * k)
    return out


def _write_varints(buf: Bytes, at: IntArray, values: IntArray) -> IntArray:
    """Write LEB128 ``values`` at ``at``; returns their lengths."""
    length = _varint_len(values)
    for k in range(int(length.max(initial=0))):
        sel = np.flatnonzero(length > k)
        more = np.where(length[sel] > k + 1, 0x80, 0)
        buf[at[sel] + k] = ((values[sel] >> (7 * k)) & 0x7F) | more
    return length


def _width_code(values: IntArray) -> IntArray:
    """``_sketch_format.width_code`` of each value."""
    return (values >= 0x100).astype(np.int64) + (values >= 0x10000) + (values >= 0x100000000)


def _negative_zero(values: FloatArray) -> BoolArray:
    found: BoolArray = (values == 0.0) & np.signbit(values)
    return found
