"""Vectorized window rows for many reports at once (the ingest hot path).

Every per-probe RTT of every result of every report goes into one numpy array; per-result
sums, squares, extremes, jitter and sketch buckets come from a handful of whole-array numpy
calls, and each sketch is encoded by slicing shared bucket tables. The result is the same as
building each row on its own (``aggregate._result_window``): same integers, same floats, same
sketch bytes. Inputs outside the range where int64 arithmetic is provably exact take the
per-result path instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cloudperf_core.models import TargetResult, WindowAggregate
from cloudperf_core.sketch import layout as fmt

# |RTT| below 2**26 µs (67 s) keeps squares below 2**52, so int64 sums of up to 2**10 squares
# per result cannot overflow (and float64 holds every RTT exactly); beyond that, per result.
_MAX_FAST_RTT_US = 2**26
_MAX_FAST_PER_RESULT = 2**10
_ALPHA = 0.01

IntArray = npt.NDArray[np.int64]


def fast_path_fits(result: TargetResult) -> bool:
    """Whether :func:`rows_from_arrays` takes this result (it has per-probe RTTs)."""
    return result.rtts_us is not None and len(result.rtts_us) <= _MAX_FAST_PER_RESULT


def rows_from_arrays(
    source_of: Sequence[str],
    start_of: Sequence[int],
    results: Sequence[TargetResult],
    window_s: int,
) -> list[WindowAggregate] | None:
    """One row per result (``source_of[i]``/``start_of[i]`` give its report's source and
    window start), or ``None`` when some value needs the exact per-result path.

    Every result must pass :func:`fast_path_fits`.
    """
    lengths: list[int] = []
    parts: list[list[int | None]] = []
    for result in results:
        rtts = result.rtts_us
        assert rtts is not None  # fast_path_fits
        parts.append(rtts)
        lengths.append(len(rtts))
    flat: list[int | None] = [v for part in parts for v in part]
    raw = np.array(flat, dtype=np.float64)  # None -> nan
    got = ~np.isnan(raw)
    values_f = raw[got]
    if values_f.size and (
        float(np.abs(values_f).max()) >= _MAX_FAST_RTT_US
        or not bool((values_f == np.floor(values_f)).all())
    ):
        return None
    if not set(map(type, flat)) <= {int, type(None)}:
        return None  # bools, floats, int subclasses: keep their Python arithmetic exactly
    values = values_f.astype(np.int64)
    n_results = len(results)
    # Received values per result, and where each result's values start and end in `values`.
    taken = np.concatenate(([0], np.cumsum(got, dtype=np.int64)))
    raw_ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    ends = taken[raw_ends]
    starts = np.concatenate(([0], ends[:-1])).astype(np.int64)
    per = ends - starts
    nonempty = per > 0
    first = starts[nonempty]
    sums = np.zeros(n_results, np.int64)
    sumsq = np.zeros(n_results, np.int64)
    lows = np.zeros(n_results, np.int64)
    highs = np.zeros(n_results, np.int64)
    jitter = np.zeros(n_results, np.int64)
    if values.size:
        # reduceat over the starts of non-empty results: empty ones hold no values, so each
        # reduction spans exactly one result.
        sums[nonempty] = np.add.reduceat(values, first)
        sumsq[nonempty] = np.add.reduceat(values * values, first)
        lows[nonempty] = np.minimum.reduceat(values, first)
        highs[nonempty] = np.maximum.reduceat(values, first)
        steps = np.concatenate(([0], np.cumsum(np.abs(np.diff(values)))))
        jitter[nonempty] = steps[ends[nonempty] - 1] - steps[first]
    sketches = _sketches(values, starts, ends, lows, highs, sums)
    per_l = per.tolist()
    sums_l, sumsq_l, lows_l, highs_l = sums.tolist(), sumsq.tolist(), lows.tolist(), highs.tolist()
    jitter_l = jitter.tolist()
    rows: list[WindowAggregate] = []
    for i, result in enumerate(results):
        n = per_l[i]
        sent = result.sent if result.sent is not None else lengths[i]
        received = result.received if result.received is not None else n
        rows.append(
            WindowAggregate(
                source=source_of[i],
                target=result.target,
                window_start_s=start_of[i],
                window_s=window_s,
                sent=sent or 0,
                received=received or 0,
                duplicates=result.duplicates,
                rtt_sum_us=sums_l[i],
                rtt_sumsq_us2=float(sumsq_l[i]),
                rtt_min_us=lows_l[i] if n else None,
                rtt_max_us=highs_l[i] if n else None,
                jitter_sum_us=jitter_l[i],
                jitter_pairs=n - 1 if n else 0,
                sketch=sketches[i],
            )
        )
    return rows


def _sketches(
    values: IntArray,
    starts: IntArray,
    ends: IntArray,
    lows: IntArray,
    highs: IntArray,
    sums: IntArray,
) -> list[bytes]:
    """Every result's serialized sketch: buckets from one searchsorted and one unique, and
    the bytes of all usual sketches written into one buffer that is then sliced."""
    n_results = len(starts)
    per = ends - starts
    positive = values >= 1
    taken = np.concatenate(([0], np.cumsum(positive, dtype=np.int64)))
    zero = per - (taken[ends] - taken[starts])
    bounds = fmt.bucket_bounds(_ALPHA)[0]
    # Same float comparisons as LatencySketch.add (bisect_left on the same bounds).
    bucket = np.searchsorted(bounds, values[positive].astype(np.float64), side="left")
    owner = np.repeat(np.arange(n_results, dtype=np.int64), per)[positive]
    width = len(bounds)
    keys, counts = np.unique(owner * width + bucket, return_counts=True)
    key_owner = keys // width
    indices = keys - key_owner * width
    cuts = np.searchsorted(key_owner, np.arange(n_results + 1, dtype=np.int64))
    n_buckets = np.diff(cuts)
    base = np.zeros(n_results, np.int64)
    base[n_buckets > 0] = indices[cuts[:-1][n_buckets > 0]]
    spread = indices - base[key_owner]
    # The usual sketch: under 128 samples, 1-byte offsets and counts, so every varint in it
    # is one byte except the base (two from 128). Its bytes are written all at once.
    usual = (per > 0) & (per < 0x80) & (n_buckets > 0)
    if spread.size and int(spread.max()) >= 0x100:
        # reduceat over the starts of non-empty tables only (as for the sums above).
        has = n_buckets > 0
        widest = np.zeros(n_results, np.int64)
        widest[has] = np.maximum.reduceat(spread, cuts[:-1][has])
        usual &= widest < 0x100
    head_len = 38 + (base >= 0x80)
    size = np.where(usual, head_len + 2 * n_buckets, 0)
    at = np.cumsum(size) - size
    buf = np.zeros(int(size.sum()), np.uint8)
    u = np.flatnonzero(usual)
    heads = np.zeros((u.size, 38), np.uint8)  # column 36: widths 0
    heads[:, :9] = np.frombuffer(fmt.prefix(_ALPHA), np.uint8)
    heads[:, 9] = per[u]
    floats = np.stack((lows[u], highs[u], sums[u]), axis=1).astype("<f8")
    heads[:, 10:34] = floats.view(np.uint8).reshape(u.size, 24)
    heads[:, 34] = zero[u]
    heads[:, 35] = n_buckets[u]
    heads[:, 37] = (base[u] & 0x7F) | np.where(base[u] >= 0x80, 0x80, 0)
    buf[at[u, None] + np.arange(38)] = heads
    two = u[base[u] >= 0x80]
    buf[at[two] + 38] = base[two] >> 7
    mine = usual[key_owner]
    table_at = (at + head_len)[key_owner[mine]] + (np.arange(keys.size) - cuts[key_owner])[mine]
    buf[table_at] = spread[mine]
    buf[table_at + n_buckets[key_owner[mine]]] = counts[mine]
    whole = buf.tobytes()
    at_l, size_l, usual_l = at.tolist(), size.tolist(), usual.tolist()
    cuts_l, zero_l, per_l = cuts.tolist(), zero.tolist(), per.tolist()
    out: list[bytes] = []
    for i in range(n_results):
        if usual_l[i]:
            out.append(whole[at_l[i] : at_l[i] + size_l[i]])
            continue
        a, b = cuts_l[i], cuts_l[i + 1]
        out.append(
            fmt.encode_arrays(
                _ALPHA,
                per_l[i],
                float(lows[i]),
                float(highs[i]),
                float(sums[i]),
                zero_l[i],
                indices[a:b],
                counts[a:b].astype(np.uint64),
            )
        )
    return out
