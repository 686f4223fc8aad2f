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
    """Every result's serialized sketch: buckets from one searchsorted and one unique, all
    sketches written by one :func:`~cloudperf_core.sketch.layout.encode_many`."""
    n_results = len(starts)
    per = ends - starts
    positive = values >= 1
    taken = np.concatenate(([0], np.cumsum(positive, dtype=np.int64)))
    zero = per - (taken[ends] - taken[starts])
    bounds = fmt.bucket_bounds(fmt.DEFAULT_ACCURACY)[0]
    # Same float comparisons as LatencySketch.add (bisect_left on the same bounds).
    bucket = np.searchsorted(bounds, values[positive].astype(np.float64), side="left")
    owner = np.repeat(np.arange(n_results, dtype=np.int64), per)[positive]
    width = len(bounds)
    keys, counts = np.unique(owner * width + bucket, return_counts=True)
    key_owner = keys // width
    return fmt.encode_many(
        fmt.DEFAULT_ACCURACY,
        per,
        zero,
        lows.astype(np.float64),
        highs.astype(np.float64),
        sums.astype(np.float64),
        key_owner,
        keys - key_owner * width,
        counts.astype(np.int64),
    )
