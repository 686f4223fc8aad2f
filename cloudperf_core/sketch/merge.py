"""The one merge of serialized sketches: many groups at once, every group exact.

``merge_groups(blobs, sizes)`` takes serialized sketches laid end to end (``sizes[g]``
consecutive blobs belong to group ``g``) and returns each group's merged v2 bytes: the bytes of
decoding every blob into a :class:`~cloudperf_core.sketch.latency.LatencySketch`, merging them
left to right and encoding the result (that object path is also how a few sketches, or a group
the batch path does not accept, are merged). Ingest, retention and queries all merge here.

The batch path (many blobs): every blob is joined into one buffer and its v2 header read at
computed positions (varints one byte column at a time), every bucket table gathered into one
entry array, checked with the rules of ``LatencySketch.from_bytes``, merged by one sort of
``group * buckets + index`` and one ``np.add.reduceat``, and every output written by
:func:`cloudperf_core.sketch.layout.encode_many`. A group with any blob it does not fully
accept -- v1, another accuracy, 8-byte counts, varints of 5 bytes or more, non-integer or
``-0.0`` floats, anything malformed -- takes the object path, which raises the exact error
(:class:`SketchDecodeError` for malformed bytes, :class:`InvalidSpecError` for mixed
accuracies). With integer-valued floats whose absolute sum stays below 2**53, every partial
sum is exact, so the batch path's float sum does not depend on the order of the additions
(the object path adds left to right), nor min/max without signed zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.sketch import layout as fmt
from cloudperf_core.sketch.latency import LatencySketch

__all__ = ["MergedTables", "merge_groups", "merge_serialized", "merge_tables"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Bytes = npt.NDArray[np.uint8]

_ALPHA = fmt.DEFAULT_ACCURACY  # the accuracy ingest writes; others take the object path
_LIMIT = len(fmt.bucket_bounds(_ALPHA)[1])
_VARINT_BYTES = 4  # longer varints (values >= 2**28) take the object path
_PAD = 64  # > the longest header, so reads past a truncated last blob stay in the buffer
_EXACT_FLOAT = 2.0**53
#: Up to this many blobs in all, the object path is cheaper than the batch path's fixed cost.
FEW_BLOBS = 32


def merge_serialized(blobs: Sequence[bytes]) -> bytes:
    """The merged v2 bytes of ``blobs`` (at least one; v1 or v2 each, ``b""`` = empty).

    >>> one = LatencySketch(); one.add(1000)
    >>> LatencySketch.from_bytes(merge_serialized([one.to_bytes()] * 3)).count
    3
    """
    return merge_groups(blobs, [len(blobs)])[0]


def merge_groups(blobs: Sequence[bytes], sizes: Sequence[int]) -> list[bytes]:
    """Merged v2 bytes of each group of consecutive ``blobs``.

    Every size must be at least 1 and the sizes must add up to ``len(blobs)``. Raises
    :class:`SketchDecodeError` or :class:`InvalidSpecError` for a group that cannot be merged
    (see the module docstring); ``b""`` reads as an empty sketch of the default accuracy.
    """
    if len(blobs) <= FEW_BLOBS:
        batch: list[bytes | None] = [None] * len(sizes)
    else:
        batch = _merge_batch(blobs, sizes)
        if None not in batch:  # the usual case: every group took the batch path
            return cast(list[bytes], batch)
    at = 0
    out: list[bytes] = []
    for size, merged in zip(sizes, batch, strict=True):
        out.append(merged if merged is not None else _merge_objects(blobs[at : at + size]))
        at += size
    return out


def _merge_objects(blobs: Sequence[bytes]) -> bytes:
    """The reference: decode, merge left to right, encode."""
    if not blobs:
        raise InvalidSpecError("a sketch merge needs at least one sketch")
    sketch = _load(blobs[0])
    for blob in blobs[1:]:
        sketch.merge(_load(blob))
    if sketch.count > fmt.MAX_COUNT:
        raise InvalidSpecError(f"a merged sketch cannot hold more than {fmt.MAX_COUNT} samples")
    return sketch.to_bytes()


def _load(blob: bytes) -> LatencySketch:
    return LatencySketch.from_bytes(blob) if blob else LatencySketch()


def _merge_batch(blobs: Sequence[bytes], sizes: Sequence[int]) -> list[bytes | None]:
    """The batch path: merged bytes per group, ``None`` for a group it does not accept."""
    m = merge_tables(blobs, sizes)
    n_groups = m.ok.size
    if bool(m.ok.all()):
        encoded: list[bytes | None] = list(
            fmt.encode_many(
                _ALPHA, m.count, m.zero, m.lo, m.hi, m.total, m.owner, m.index, m.counts
            )
        )
        return encoded
    accepted = np.flatnonzero(m.ok)
    # Entries belong to accepted groups only: renumber those 0..len(accepted)-1.
    renumber = np.cumsum(m.ok) - 1
    written = fmt.encode_many(
        _ALPHA,
        m.count[accepted],
        m.zero[accepted],
        m.lo[accepted],
        m.hi[accepted],
        m.total[accepted],
        renumber[m.owner],
        m.index,
        m.counts,
    )
    out: list[bytes | None] = [None] * n_groups
    for g, blob in zip(accepted.tolist(), written, strict=True):
        out[g] = blob
    return out


@dataclass(frozen=True)
class MergedTables:
    """Merged sketches of many groups as arrays (what :func:`merge_tables` returns).

    Group ``g`` was merged by the batch path iff ``ok[g]``; then it holds ``count[g]``
    samples, ``zero[g]`` of them in the zero bucket, exact ``lo``/``hi`` (``inf``/``-inf``
    when empty) and ``total``, and its buckets are the entries ``e`` with ``owner[e] == g``
    (``owner`` ascending, ``index`` ascending within a group, ``counts`` > 0). Fields of a
    group that is not ``ok`` are meaningless and it has no entries.
    """

    ok: BoolArray
    count: IntArray
    zero: IntArray
    lo: FloatArray
    hi: FloatArray
    total: FloatArray
    owner: IntArray
    index: IntArray
    counts: IntArray


def merge_tables(blobs: Sequence[bytes], sizes: Sequence[int]) -> MergedTables:
    """The batch path of :func:`merge_groups` without the encoding: every group's merged
    sketch as arrays, with ``ok`` false for a group the batch path does not accept (merge
    those with :func:`merge_groups`, which raises the exact error of a bad one).

    Every size must be at least 1 and the sizes must add up to ``len(blobs)``.
    """
    n_groups = len(sizes)
    if not n_groups:
        none = np.zeros(0, np.int64)
        return MergedTables(np.zeros(0, np.bool_), none, none, none.astype(np.float64),
                            none.astype(np.float64), none.astype(np.float64), none, none,
                            none)  # fmt: skip
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
    return MergedTables(
        ok=group_ok,
        count=count,
        zero=zero,
        lo=lo,
        hi=hi,
        total=total,
        owner=keys // _LIMIT,
        index=keys % _LIMIT,
        counts=counts,
    )


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


def _negative_zero(values: FloatArray) -> BoolArray:
    found: BoolArray = (values == 0.0) & np.signbit(values)
    return found
