"""Merge many serialized sketches in one vectorized pass (no LatencySketch objects).

Each v2 sketch is parsed only up to its bucket table; the tables of all inputs are joined per
width and read with one ``np.frombuffer`` each, checked together (the same checks as
``LatencySketch.from_bytes``), summed with one ``np.bincount`` and encoded once. Inputs in the
old v1 layout, or with 8-byte counts, go through the exact per-sketch decoder instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cloudperf_core.errors import InvalidSpecError, SketchDecodeError
from cloudperf_core.sketch import layout as fmt

# Sums of bucket counts below this are exact in float64, so np.bincount(weights=) is exact.
_EXACT_FLOAT_COUNT = 2**53


class _Tables:
    """Bucket tables of every input sketch that shares one (offset, count) width."""

    __slots__ = ("bases", "counts", "ns", "offsets", "totals")

    def __init__(self) -> None:
        self.offsets: list[bytes] = []
        self.counts: list[bytes] = []
        self.bases: list[int] = []
        self.ns: list[int] = []
        self.totals: list[int] = []  # count - zero of each sketch: what its table must sum to


def merge_serialized(blobs: Sequence[bytes], default_accuracy: float = 0.01) -> bytes:
    """v2 bytes of the sketch holding every sample of ``blobs`` (v1 or v2 each).

    ``b""`` reads as an empty sketch of ``default_accuracy``. Raises
    :class:`SketchDecodeError` for a malformed input and :class:`InvalidSpecError` when the
    inputs have different accuracies. Equal to decoding, merging and re-encoding.
    """
    alpha: float | None = None
    count = zero = 0
    lo, hi = math.inf, -math.inf
    total: float | None = None
    tables: dict[int, _Tables] = {}
    exact_indices: list[list[int]] = []
    exact_counts: list[list[int]] = []
    for blob in blobs:
        parsed = fmt.read_header(blob) if blob and blob[0] == fmt.V2 else None
        if not blob:
            this_alpha, this_count = default_accuracy, 0
        elif parsed is not None and parsed[8] < 3:
            this_alpha, this_count, this_lo, this_hi, this_sum, this_zero, n, oc, cc, base = parsed
            if this_zero > this_count:  # would wrap the uint64 table total below
                raise SketchDecodeError("bucket counts do not add up to the total count")
            if n:
                group = tables.get(oc | cc << 4)
                if group is None:
                    group = tables[oc | cc << 4] = _Tables()
                split = len(blob) - n * (1 << cc)
                group.offsets.append(blob[split - n * (1 << oc) : split])
                group.counts.append(blob[split:])
                group.bases.append(base)
                group.ns.append(n)
                group.totals.append(this_count - this_zero)
        else:
            # v1, or 8-byte counts whose sums could wrap uint64: the exact decoder.
            decoded = fmt.decode(blob)
            this_alpha, this_count, this_lo, this_hi, this_sum, this_zero = decoded[:6]
            if decoded[6]:
                exact_indices.append(decoded[6])
                exact_counts.append(decoded[7])
        if alpha is None:
            alpha = this_alpha
        elif this_alpha != alpha:
            raise InvalidSpecError(f"cannot merge sketches of accuracy {alpha} and {this_alpha}")
        if this_count:
            count += this_count
            zero += this_zero
            lo = min(lo, this_lo)
            hi = max(hi, this_hi)
            # Left to right, like a chain of pairwise merges, so the float sum is the same.
            total = this_sum if total is None else total + this_sum
    if alpha is None:
        alpha = default_accuracy
    if count == 0:
        return fmt.head(alpha, 0, lo, hi, 0.0, 0, 0)
    limit = len(fmt.bucket_bounds(alpha)[1])
    index_parts = [np.asarray(i, dtype=np.int64) for i in exact_indices]
    count_parts = [np.asarray(c, dtype=np.uint64) for c in exact_counts]
    for code, group in tables.items():
        indices, counts = _checked_table(group, code & 0x0F, code >> 4, limit)
        index_parts.append(indices)
        count_parts.append(counts)
    if index_parts:
        merged_indices, merged_counts = _add_up(index_parts, count_parts, count)
    else:  # every sample in the zero bucket
        merged_indices, merged_counts = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return fmt.encode_arrays(
        alpha, count, lo, hi, 0.0 if total is None else total, zero, merged_indices, merged_counts
    )


def _checked_table(
    group: _Tables, oc: int, cc: int, limit: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    ns = np.asarray(group.ns, dtype=np.int64)
    ends = np.cumsum(ns)
    starts = ends - ns
    offsets = np.frombuffer(b"".join(group.offsets), dtype=fmt.DTYPES[oc]).astype(np.int64)
    counts = np.frombuffer(b"".join(group.counts), dtype=fmt.DTYPES[cc]).astype(np.uint64)
    steps = np.diff(offsets)
    steps[starts[1:] - 1] = 1  # the step from one sketch's table into the next is no step
    if bool(offsets[starts].any()) or not bool((steps > 0).all()):
        raise SketchDecodeError("bucket indices not increasing")
    bases = np.asarray(group.bases, dtype=np.int64)
    if bool((bases + offsets[ends - 1] >= limit).any()) or not bool(counts.all()):
        raise SketchDecodeError("bucket index out of range or empty bucket")
    # Per-sketch sums by differences of one running sum: exact even if the running sum wraps,
    # because every table holds counts < 2**32 in at most `limit` buckets.
    running = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(counts)))
    if not bool((running[ends] - running[starts] == np.asarray(group.totals, np.uint64)).all()):
        raise SketchDecodeError("bucket counts do not add up to the total count")
    return offsets + np.repeat(bases, ns), counts


def _add_up(
    index_parts: list[npt.NDArray[np.int64]], count_parts: list[npt.NDArray[np.uint64]], total: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    indices = np.concatenate(index_parts) if len(index_parts) > 1 else index_parts[0]
    counts = np.concatenate(count_parts) if len(count_parts) > 1 else count_parts[0]
    low = int(indices.min())
    shifted = indices - low
    if total < _EXACT_FLOAT_COUNT:
        dense_f = np.bincount(shifted, weights=counts.astype(np.float64))
        nonzero = np.flatnonzero(dense_f)
        return nonzero + low, dense_f[nonzero].astype(np.uint64)
    dense = np.zeros(int(shifted.max()) + 1, dtype=np.uint64)
    np.add.at(dense, shifted, counts)
    nonzero = np.flatnonzero(dense)
    return nonzero + low, dense[nonzero]
