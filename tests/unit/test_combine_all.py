"""combine_all: a whole batch of window keys merged at once, same rows as combine per key.

The reference (``_per_key``) merges every key's sketches by the object path (decode, merge,
encode); ``_batch`` runs ``combine_all`` with the vectorized batch path forced on, whatever the
batch's size, so the two merge paths are held to the same bytes and the same errors.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudperf_core.errors import InvalidSpecError, SketchDecodeError
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult, WindowAggregate
from cloudperf_core.sketch import layout as fmt
from cloudperf_core.sketch import merge
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.windows.aggregate import combine, combine_all, windows_for_reports
from tests.unit.test_sketch import _v1_bytes

K = TypeVar("K", bound=Hashable)
Key = tuple[str, int]
# values, heavy, form, sent, sumsq, lo, jitter (what rows_st draws)
Spec = tuple[list[int], int, str, int, float, int | None, int]


def _sketch_bytes(values: list[int], heavy: int, form: str) -> bytes:
    if form == "empty-bytes":
        return b""
    s = LatencySketch()
    s.add_many(values)
    if heavy:
        # 2-, 4- and 8-byte bucket counts, and counts whose varints are 5 bytes and more.
        s.add(777, count=(0, 10**4, 10**8, 10**9, 10**16)[heavy])
    return _v1_bytes(s) if form == "v1" else s.to_bytes()


samples = st.lists(
    st.one_of(st.integers(-5, 10), st.integers(1, 100_000), st.integers(0, 10**9)), max_size=30
)
rows_st = st.builds(
    lambda values, heavy, form, sent, sumsq, lo, jitter: (
        values,
        heavy,
        form,
        sent,
        sumsq,
        lo,
        jitter,
    ),
    samples,
    st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4]),
    st.sampled_from(["v2", "v2", "v2", "v2", "v1", "empty-bytes"]),
    st.integers(0, 40),
    st.one_of(st.floats(0, 1e12), st.just(0.0), st.just(-0.0), st.floats(-1e6, 1e6)),
    st.one_of(st.none(), st.integers(-10, 10**6)),
    st.integers(0, 10**6),
)


def _row(key: Key, spec: Spec) -> WindowAggregate:
    values, heavy, form, sent, sumsq, lo, jitter = spec
    return WindowAggregate(
        source="fra",
        target=key[0],
        window_start_s=key[1],
        window_s=60,
        sent=sent,
        received=len(values),
        rtt_sum_us=sum(values),
        rtt_sumsq_us2=sumsq,
        rtt_min_us=lo,
        rtt_max_us=None if lo is None else lo + 5,
        jitter_sum_us=jitter,
        jitter_pairs=max(len(values) - 1, 0),
        sketch=_sketch_bytes(values, heavy, form),
    )


batch_st = st.lists(
    st.tuples(st.booleans(), st.lists(rows_st, min_size=0, max_size=8)), min_size=1, max_size=12
)


@contextmanager
def _few_blobs(limit: int) -> Iterator[None]:
    """Merge by the object path up to ``limit`` blobs, by the batch path above."""
    saved = merge.FEW_BLOBS
    merge.FEW_BLOBS = limit
    try:
        yield
    finally:
        merge.FEW_BLOBS = saved


def _per_key(
    pending: Mapping[K, Sequence[WindowAggregate]], stored: Mapping[K, WindowAggregate]
) -> dict[K, WindowAggregate]:
    with _few_blobs(10**9):
        return {key: combine(stored.get(key), rows) for key, rows in pending.items()}


def _batch(
    pending: Mapping[K, Sequence[WindowAggregate]], stored: Mapping[K, WindowAggregate]
) -> dict[K, WindowAggregate]:
    with _few_blobs(0):
        return combine_all(pending, stored)


def _encoded(rows: dict[K, WindowAggregate]) -> list[tuple[K, bytes]]:
    # JSON tells 5 from 5.0 and -0.0 from 0.0, and carries the sketch bytes.
    return [(key, msgspec.json.encode(row)) for key, row in rows.items()]


def _split(
    batch: list[tuple[bool, list[Spec]]],
) -> tuple[dict[Key, list[WindowAggregate]], dict[Key, WindowAggregate]]:
    pending: dict[Key, list[WindowAggregate]] = {}
    stored: dict[Key, WindowAggregate] = {}
    for i, (has_stored, specs) in enumerate(batch):
        key = (f"t{i}", 60 * (i % 3))
        rows = [_row(key, spec) for spec in specs]
        if has_stored and rows:
            stored[key] = rows.pop(0)
        if rows or key in stored:
            pending[key] = rows
    return pending, stored


@settings(max_examples=300, deadline=None)
@given(batch_st)
def test_combine_all_equals_combine_per_key(batch: list[tuple[bool, list[Spec]]]) -> None:
    pending, stored = _split(batch)
    expected = _per_key(pending, stored)
    assert _encoded(_batch(pending, stored)) == _encoded(expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(rows_st, min_size=45, max_size=50), st.booleans())
def test_keys_with_fifty_rows(specs: list[Spec], has_stored: bool) -> None:
    key = ("t", 0)
    rows = [_row(key, spec) for spec in specs]
    stored = {key: rows.pop(0)} if has_stored else {}
    pending = {key: rows, ("u", 0): rows[:1]}
    other = [_row(("u", 0), spec) for spec in specs[:3]]
    pending[("u", 0)] = other
    assert _encoded(_batch(pending, stored)) == _encoded(_per_key(pending, stored))


def _ingest_rows(n_reports: int, n_targets: int, seed: int) -> list[WindowAggregate]:
    rnd = random.Random(seed)
    reports = [
        MeasurementReport(
            report_id=f"r{i}",
            source="fra",
            started_at_ms=1_700_000_000_000 + 10_000 * i,
            spec=ProbeSpec(targets=("x",)),
            results=[
                TargetResult(
                    target=f"t{t}",
                    rtts_us=[rnd.choice([None, 0, rnd.randint(1, 90_000)]) for _ in range(11)],
                )
                for t in range(n_targets)
            ],
        )
        for i in range(n_reports)
    ]
    return [w for rw in windows_for_reports(reports, 60) for w in rw.windows]


def test_single_rows_are_returned_as_they_are_and_order_follows_pending() -> None:
    rows = _ingest_rows(3, 4, seed=1)
    pending: dict[tuple[str, int], list[WindowAggregate]] = {}
    for row in reversed(rows):
        pending.setdefault((row.target, row.window_start_s), []).append(row)
    lonely = WindowAggregate(source="fra", target="z", window_start_s=0, window_s=60, sketch=b"?")
    pending[("z", 0)] = [lonely]
    out = _batch(pending, {})
    assert list(out) == list(pending)
    assert out[("z", 0)] is lonely  # one row is not re-encoded (nor checked), as in combine
    first = (rows[0].target, rows[0].window_start_s)
    assert out[first].sent == 33 and out[first].rtt_min_us is not None


def test_rows_from_ingest_take_the_batch_path() -> None:
    # What windows_for_reports writes is what the vectorized merge must accept (else every
    # batch would silently pay the per-key cost).
    rows = _ingest_rows(6, 30, seed=2)
    blobs = [row.sketch for row in rows]
    assert None not in merge._merge_batch(blobs, [6] * 30)


def test_corrupt_stored_sketch_fails_the_whole_batch() -> None:
    rows = _ingest_rows(4, 20, seed=3)
    pending: dict[tuple[str, int], list[WindowAggregate]] = {}
    for row in rows:
        pending.setdefault((row.target, row.window_start_s), []).append(row)
    stored = {key: group.pop(0) for key, group in pending.items()}
    victim = stored[("t7", 1_699_999_980)]
    stored[("t7", 1_699_999_980)] = msgspec.structs.replace(
        victim,
        sketch=victim.sketch[:-1] + bytes([victim.sketch[-1] + 1]),  # counts do not add up
    )
    with pytest.raises(SketchDecodeError):
        _batch(pending, stored)
    stored[("t7", 1_699_999_980)] = msgspec.structs.replace(victim, sketch=victim.sketch + b"\0")
    with pytest.raises(SketchDecodeError):
        _batch(pending, stored)
    stored[("t7", 1_699_999_980)] = msgspec.structs.replace(
        victim, sketch=LatencySketch(0.02).to_bytes()
    )
    with pytest.raises(InvalidSpecError):
        _batch(pending, stored)


@settings(max_examples=300, deadline=None)
@given(st.lists(rows_st, min_size=2, max_size=6), st.integers(0, 10_000), st.integers(0, 255))
def test_any_damaged_byte_raises_what_combine_raises(
    specs: list[Spec], at: int, value: int
) -> None:
    key = ("t", 0)
    rows = [_row(key, spec) for spec in specs]
    blob = rows[0].sketch
    if blob:
        i = at % len(blob)
        rows[0] = msgspec.structs.replace(rows[0], sketch=blob[:i] + bytes([value]) + blob[i + 1 :])
    healthy = [_row(("u", 0), spec) for spec in specs]
    pending = {("u", 0): healthy[1:], key: rows[1:]}
    stored = {key: rows[0], ("u", 0): healthy[0]}
    try:
        expected = _per_key(pending, stored)
    except (SketchDecodeError, InvalidSpecError) as exc:
        with pytest.raises(type(exc)):
            _batch(pending, stored)
    else:
        assert _encoded(_batch(pending, stored)) == _encoded(expected)


def test_mismatched_rows_and_empty_keys_are_refused_like_combine() -> None:
    a = _row(("a", 0), ([5], 0, "v2", 1, 25.0, 5, 0))
    b = _row(("b", 0), ([5], 0, "v2", 1, 25.0, 5, 0))
    with pytest.raises(InvalidSpecError):
        _batch({("a", 0): [a, b]}, {})
    with pytest.raises(InvalidSpecError):
        _batch({("a", 0): []}, {})
    assert _batch({("a", 0): []}, {("a", 0): a})[("a", 0)] is a


def _v2(
    count: int, lo: float, hi: float, total: float, zero: int, buckets: dict[int, int]
) -> bytes:
    """v2 bytes as written, with no checks: lets a test build every kind of bad sketch."""
    return fmt.encode(0.01, count, lo, hi, total, zero, list(buckets), list(buckets.values()))


GOOD = _v2(3, 1000.0, 1100.0, 3150.0, 0, {350: 2, 352: 1})
LIMIT = len(fmt.bucket_bounds(0.01)[1])
CRAFTED = {
    "zero bucket short of the count": [GOOD, _v2(3, 0.0, 0.0, 0.0, 2, {})],
    "repeated bucket index": [
        GOOD,
        _v2(2, 1000.0, 1000.0, 2000.0, 0, {350: 1, 351: 1})[:-3] + b"\x00\x01\x01",
    ],
    "bucket index past the table": [GOOD, _v2(1, 1e9, 1e9, 1e9, 0, {LIMIT: 1})],
    "empty bucket": [GOOD, _v2(1, 1000.0, 1000.0, 1000.0, 1, {350: 0})],
    "counts above the total": [GOOD, _v2(1, 1000.0, 1000.0, 1000.0, 0, {350: 2})],
    "min above max": [GOOD, _v2(1, 1100.0, 1000.0, 1000.0, 0, {350: 1})],
    "nan sum": [GOOD, _v2(1, 1000.0, 1000.0, math.nan, 0, {350: 1})],
    "8-byte offsets": [GOOD, GOOD[:-7] + bytes([GOOD[-7] | 0x03]) + GOOD[-6:]],
    "truncated": [GOOD, GOOD[:-1]],
    "trailing byte": [GOOD, GOOD + b"\x01"],
    "unknown version": [GOOD, b"\x03" + GOOD[1:]],
    "float sums that round": [_v2(1, 2.0**53, 2.0**53, 2.0**53, 0, {1800: 1}), GOOD, GOOD],
    "fractional sums": [  # left to right 0.6000000000000001, in pairs 0.6
        _v2(1, 1000.0, 1000.0, 0.1, 0, {350: 1}),
        _v2(1, 1000.0, 1000.0, 0.2, 0, {350: 1}),
        _v2(1, 1000.0, 1000.0, 0.3, 0, {350: 1}),
    ],
    "negative zero sum after an empty sketch": [b"", _v2(1, 0.0, 0.0, -0.0, 1, {}), GOOD],
    "negative zero sums only": [b"", _v2(1, 0.0, 0.0, -0.0, 1, {}), _v2(1, 0.0, 0.0, -0.0, 1, {})],
    "negative zero min": [_v2(1, 0.0, 0.0, 0.0, 1, {}), _v2(1, -0.0, 0.0, 0.0, 1, {})],
    "non-minimal varint count": [GOOD, b"\x02" + GOOD[1:9] + b"\x83\x00" + GOOD[10:]],
    "5-byte varint count": [GOOD, _v2(2**29, 1000.0, 1000.0, 1000.0 * 2**29, 0, {350: 2**29})],
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("many", [False, True])  # one and three copies of each blob
def test_crafted_sketches_merge_or_fail_like_combine(name: str, many: bool) -> None:
    blobs = CRAFTED[name] * (3 if many else 1)
    rows = [
        WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sketch=blob)
        for blob in blobs
    ]
    pending = {"k": rows[1:], "fine": [rows[0], rows[0]]}
    stored = {"k": rows[0]}
    try:
        expected = _per_key(pending, stored)
    except (SketchDecodeError, InvalidSpecError) as exc:
        with pytest.raises(type(exc)):
            _batch(pending, stored)
    else:
        assert _encoded(_batch(pending, stored)) == _encoded(expected)
