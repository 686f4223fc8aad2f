"""LatencySketch: error bound against exact quantiles, merging, serialization."""

from __future__ import annotations

import math
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudperf_core.errors import CloudperfError, InvalidSpecError, SketchDecodeError
from cloudperf_core.sketch import layout as fmt
from cloudperf_core.sketch import merge
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.sketch.merge import merge_groups, merge_serialized

ALPHA = 0.01
QS = [i / 200 for i in range(201)] + [0.7, 0.95, 0.99, 0.999]


def sketch_of(values: object, alpha: float = ALPHA) -> LatencySketch:
    s = LatencySketch(alpha)
    s.add_many(values)  # type: ignore[arg-type]
    return s


def worst_relative_error(values: np.ndarray, sketch: LatencySketch) -> float:
    exact = np.quantile(values.astype(np.float64), QS)  # numpy default: type 7 "linear"
    got = np.asarray(sketch.quantiles(QS))
    err = np.abs(got - exact)
    # Values are 0 or >= 1 µs: a zero exact quantile must be answered exactly.
    assert np.all(err[exact == 0] == 0)
    nz = exact != 0
    return float(np.max(err[nz] / np.abs(exact[nz]), initial=0.0))


def _datasets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    return {
        "lognormal": np.round(rng.lognormal(mean=10, sigma=1.5, size=200_000)),
        "pareto": np.round(1000 * (1 + rng.pareto(1.2, size=200_000))),
        "bimodal": np.round(
            np.concatenate([rng.normal(800, 30, 50_000), rng.normal(180_000, 9_000, 5_000)])
        ),
        "tiny": rng.integers(0, 11, size=10_000).astype(np.float64),
        "large": np.round(10 ** rng.uniform(0, 8, size=1_000_000)),
        "constant": np.full(1000, 12_345.0),
        "two_values": np.array([1.0, 100_000_000.0]),
    }


DATASETS = _datasets()


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_quantiles_within_one_percent_of_exact_type7(name: str) -> None:
    values = DATASETS[name]
    error = worst_relative_error(values, sketch_of(values))
    assert error <= ALPHA * (1 + 1e-9), f"{name}: worst relative error {error:.5f}"


@pytest.mark.parametrize("alpha", [0.001, 0.005, 0.05])
def test_other_accuracies_honour_their_bound(alpha: float) -> None:
    values = DATASETS["lognormal"][:20_000]
    assert worst_relative_error(values, sketch_of(values, alpha)) <= alpha * (1 + 1e-9)


def test_extremes_and_exact_moments() -> None:
    values = np.array([7, 1_000, 250, 3, 999_999], dtype=np.int64)
    s = sketch_of(values)
    assert s.quantile(0) == 3 and s.quantile(1) == 999_999
    assert (s.count, s.min, s.max, s.sum) == (5, 3, 999_999, 1_001_259)
    assert s.mean == pytest.approx(1_001_259 / 5)


def test_quantiles_are_monotone_and_clamped() -> None:
    s = sketch_of(DATASETS["pareto"][:5000])
    got = s.quantiles(QS[:201])
    assert got == sorted(got)
    assert s.min <= got[0] and got[-1] <= s.max


def test_empty_sketch_answers_nan() -> None:
    s = LatencySketch()
    assert math.isnan(s.quantile(0.5)) and math.isnan(s.min) and math.isnan(s.mean)
    assert s.count == 0 and s.sum == 0.0


@pytest.mark.parametrize("q", [-0.01, 1.01, math.nan, 95])
def test_quantile_outside_unit_interval_is_rejected(q: float) -> None:
    with pytest.raises(InvalidSpecError):
        sketch_of([1, 2, 3]).quantile(q)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2.0**64, -1e300])
def test_non_finite_rtts_are_rejected(bad: float) -> None:
    s = LatencySketch()
    with pytest.raises(InvalidSpecError):
        s.add(bad)
    with pytest.raises(InvalidSpecError):
        s.add_many([1.0, bad])
    with pytest.raises(InvalidSpecError):
        s.add_many(np.array([1.0] * 100 + [bad]))  # the vectorized path
    assert s.count == 0


@pytest.mark.parametrize("alpha", [0.0, -0.1, 0.9, 1.0])
def test_bad_accuracy_is_rejected(alpha: float) -> None:
    with pytest.raises(InvalidSpecError):
        LatencySketch(alpha)


def test_negative_rtts_count_as_zero_but_keep_exact_min_and_sum() -> None:
    s = sketch_of([-50, 0, 100, 200])
    assert s.min == -50 and s.sum == 250 and s.count == 4
    assert s.quantile(0) == -50
    # rank 1 is 0 exactly; the estimate of the negative sample is never below the min
    assert s.quantile(1 / 3) == 0
    assert -50 <= s.quantile(0.1) <= 0


def test_add_with_count_equals_repeated_adds_and_add_many() -> None:
    a, b, c = LatencySketch(), LatencySketch(), LatencySketch()
    a.add(1234, count=5)
    a.add(0, count=2)
    for _ in range(5):
        b.add(1234)
    b.add(0)
    b.add(0)
    c.add_many(np.array([1234] * 5 + [0, 0], dtype=np.int32))
    assert a == b == c
    a.add(99, count=0)
    assert a == b
    a.add(1234, count=np.int64(2))
    assert a.count == 9
    for bad_count in (-1, 1.5, True):
        with pytest.raises(InvalidSpecError):
            a.add(5, count=bad_count)  # type: ignore[arg-type]
    assert a.count == 9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=10**9), max_size=200))
def test_python_and_numpy_paths_bucket_alike(values: list[int]) -> None:
    one_by_one = LatencySketch()
    for v in values:
        one_by_one.add(v)
    assert sketch_of(values) == sketch_of(np.array(values, dtype=np.int64)) == one_by_one


def test_add_many_accepts_generators() -> None:
    assert sketch_of(v for v in [5, 6, 7]) == sketch_of([5, 6, 7])


int_lists = st.lists(st.integers(min_value=-5, max_value=10**8), max_size=60)


@settings(max_examples=200, deadline=None)
@given(int_lists, int_lists, int_lists)
def test_merge_is_associative_and_commutative(x: list[int], y: list[int], z: list[int]) -> None:
    a, b, c = sketch_of(x), sketch_of(y), sketch_of(z)
    left = a.copy()
    left.merge(b)
    left.merge(c)  # (a + b) + c
    bc = b.copy()
    bc.merge(c)
    right = a.copy()
    right.merge(bc)  # a + (b + c)
    swapped = c.copy()
    swapped.merge(a)
    swapped.merge(b)  # (c + a) + b
    whole = sketch_of(x + y + z)
    assert left == right == swapped == whole
    assert left.to_bytes() == whole.to_bytes()
    for q in (0, 0.5, 0.95, 1):
        assert left.quantile(q) == whole.quantile(q) or (
            math.isnan(left.quantile(q)) and not whole.count
        )


def test_merge_does_not_change_the_other_sketch() -> None:
    a, b = sketch_of([1, 2]), sketch_of([300, 400])
    before = b.to_bytes()
    a.merge(b)
    assert b.to_bytes() == before and a.count == 4


def test_merge_refuses_other_accuracy() -> None:
    with pytest.raises(InvalidSpecError):
        LatencySketch(0.01).merge(LatencySketch(0.02))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_round_trip(name: str) -> None:
    s = sketch_of(DATASETS[name])
    back = LatencySketch.from_bytes(s.to_bytes())
    assert back == s
    assert back.quantiles(QS) == s.quantiles(QS)
    assert pickle.loads(pickle.dumps(s)) == s


def test_empty_round_trip() -> None:
    s = LatencySketch(0.02)
    back = LatencySketch.from_bytes(s.to_bytes())
    assert back == s and back.relative_accuracy == 0.02


def test_serialized_size_is_bounded() -> None:
    # Every bucket from 1 µs to 100 s in use, with large counts: the worst realistic case.
    worst = sketch_of(DATASETS["large"])
    assert worst.bucket_count > 750  # integers leave some low buckets empty
    assert len(worst.to_bytes()) < 4096
    # A typical batch: 10 probes around 20 ms.
    batch = sketch_of([20_100, 20_340, 19_870, 21_000, 20_020, 20_500, 19_990, 20_060, 20_700, 0])
    assert len(batch.to_bytes()) < 64


def test_malformed_bytes_raise_sketch_decode_error() -> None:
    good = sketch_of([0, 5, 1000, 20_000, 20_000, 3_000_000]).to_bytes()
    for cut in range(len(good)):
        with pytest.raises(SketchDecodeError):
            LatencySketch.from_bytes(good[:cut])
    bad_inputs = [
        good + b"\x00",  # trailing byte
        bytes([99]) + good[1:],  # unknown version
        good[:1] + struct.pack("<d", 2.0) + good[9:],  # impossible accuracy
        good[:1] + struct.pack("<d", math.nan) + good[9:],
        good[:9] + bytes([good[9] + 1]) + good[10:],  # total count does not add up
        bytes([1]) + struct.pack("<d", 0.01) + b"\xff" * 12,  # endless varint
    ]
    for data in bad_inputs:
        with pytest.raises(SketchDecodeError):
            LatencySketch.from_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_raise_anything_but_a_decode_error(data: bytes) -> None:
    prefixed = bytes([1]) + struct.pack("<d", 0.01) + data
    for candidate in (data, prefixed):
        # Anything but a SketchDecodeError (a struct.error, an IndexError...) fails the test.
        try:
            s = LatencySketch.from_bytes(candidate)
        except SketchDecodeError:
            continue
        assert LatencySketch.from_bytes(s.to_bytes()) == s


def test_a_sketch_decode_error_is_a_cloudperf_error() -> None:
    with pytest.raises(CloudperfError):
        LatencySketch.from_bytes(b"\x02")


# --- format v2, the old v1 layout, and merging serialized sketches ---------------------------

# LatencySketch(0.01) of [0, 5, 1000, 20_000, 20_000, 3_000_000] as written by format v1.
V1_BYTES = bytes.fromhex(
    "017b14ae47e17a843f0600000000000000000000000060e34641000000807633474101045101890201960102fa0101"
)


def test_v1_bytes_are_still_read_and_rewritten_as_v2() -> None:
    s = LatencySketch.from_bytes(V1_BYTES)
    assert s == sketch_of([0, 5, 1000, 20_000, 20_000, 3_000_000])
    assert (s.count, s.min, s.max, s.sum) == (6, 0.0, 3_000_000.0, 3_041_005.0)
    assert s.to_bytes()[0] == 2
    assert LatencySketch.from_bytes(s.to_bytes()) == s
    assert (
        merge_serialized([V1_BYTES, s.to_bytes()])
        == sketch_of([0, 5, 1000, 20_000, 20_000, 3_000_000] * 2).to_bytes()
    )


sample_lists = st.lists(
    st.one_of(st.integers(-5, 10), st.integers(0, 10**9)), min_size=0, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(st.lists(sample_lists, min_size=1, max_size=12), st.integers(0, 3), st.booleans())
def test_merge_serialized_equals_decoding_merging_and_encoding(
    batches: list[list[int]], heavy: int, as_v1: bool
) -> None:
    sketches = [sketch_of(b) for b in batches]
    # Some inputs with huge bucket counts: 2-, 4- and 8-byte count tables (and, for 10**16,
    # totals beyond what float64 counts exactly).
    for s in sketches[:heavy]:
        s.add(777, count=(0, 10**4, 10**8, 10**16)[heavy])
    blobs = [s.to_bytes() for s in sketches] + [b""]
    if as_v1:
        blobs[0] = _v1_bytes(sketches[0])
    expected = LatencySketch()
    for s in sketches:
        expected.merge(s)
    merged = merge_serialized(blobs)
    assert LatencySketch.from_bytes(merged) == expected
    assert merged == expected.to_bytes()  # one sketch, one encoding
    # The batch path (taken for more than FEW_BLOBS blobs) either declines or agrees.
    assert merge._merge_batch(blobs, [len(blobs)])[0] in (None, merged)
    # Every group of a many-group call is merged as on its own.
    halves = [blobs[: len(blobs) // 2] or [b""], blobs[len(blobs) // 2 :]]
    assert merge_groups([*halves[0], *halves[1]], [len(h) for h in halves]) == [
        merge_serialized(h) for h in halves
    ]


def test_merge_serialized_checks_every_input() -> None:
    good = [sketch_of([1000 * i, 5000]).to_bytes() for i in range(1, 8)]
    # The last byte is a bucket count in v2: the counts no longer add up to the total.
    bad = good[3][:-1] + bytes([good[3][-1] + 1])
    with pytest.raises(SketchDecodeError):
        merge_serialized([*good[:3], bad, *good[4:]])
    with pytest.raises(SketchDecodeError):
        merge_serialized([*good, good[0] + b"\x00"])
    with pytest.raises(InvalidSpecError):
        merge_serialized([*good, LatencySketch(0.02).to_bytes()])
    # More samples in the zero bucket than in the sketch (a damaged byte): a decode error,
    # not an overflow of the table totals.
    zero_above_count = fmt.encode(0.01, 2, 1000.0, 1000.0, 2000.0, 3, [350], [1])
    with pytest.raises(SketchDecodeError):
        merge_serialized([*good, zero_above_count])
    assert LatencySketch.from_bytes(merge_serialized([b"", b""])) == LatencySketch()


def _v1_bytes(s: LatencySketch) -> bytes:
    """The v1 layout of ``s`` (varint, delta-coded buckets), as the old writer produced it."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        return bytes(out)

    out = bytes([1]) + struct.pack("<d", s.relative_accuracy) + varint(s.count)
    if not s.count:
        return out
    buckets = s._buckets
    out += struct.pack("<ddd", s.min, s.max, s.sum) + varint(s._zero) + varint(len(buckets))
    previous = 0
    for index in sorted(buckets):
        out += varint(index - previous) + varint(buckets[index])
        previous = index
    return out


def test_v1_writer_in_this_test_matches_the_old_bytes() -> None:
    assert _v1_bytes(sketch_of([0, 5, 1000, 20_000, 20_000, 3_000_000])) == V1_BYTES


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(sample_lists, st.integers(0, 4)), min_size=1, max_size=12))
def test_encode_many_writes_the_bytes_encode_writes(specs: list[tuple[list[int], int]]) -> None:
    # One layout, two writers (one sketch, many at once): byte for byte the same, for empty
    # and zero-only sketches, 1- to 8-byte counts and multi-byte varints alike.
    sketches = [sketch_of(values) for values, _ in specs]
    for s, (_, heavy) in zip(sketches, specs, strict=True):
        if heavy:
            s.add(777, count=(0, 300, 10**5, 10**9, 10**16)[heavy])
    fields = [fmt.decode(s.to_bytes()) for s in sketches]
    owner = [i for i, f in enumerate(fields) for _ in f[6]]
    written = fmt.encode_many(
        fmt.DEFAULT_ACCURACY,
        np.array([f[1] for f in fields], dtype=np.int64),
        np.array([f[5] for f in fields], dtype=np.int64),
        np.array([f[2] for f in fields]),
        np.array([f[3] for f in fields]),
        np.array([f[4] for f in fields]),
        np.array(owner, dtype=np.int64),
        np.array([i for f in fields for i in f[6]], dtype=np.int64),
        np.array([c for f in fields for c in f[7]], dtype=np.int64),
    )
    assert written == [s.to_bytes() for s in sketches]
