"""Exact per-batch statistics: definitions, edge cases, vectorized == scalar."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import LatencyStats, TargetResult
from cloudperf_core.stats import PERCENTILES, compute_stats, compute_stats_many, percentile

FIELDS = [f for f in LatencyStats.__struct_fields__]


def test_hand_computed_batch() -> None:
    result = TargetResult(
        target="10.0.0.1", sent=5, received=4, duplicates=2, rtts_us=[100, 200, None, 400, 300]
    )
    s = compute_stats(result)
    assert (s.sent, s.received, s.duplicates, s.loss_ratio) == (5, 4, 2, 0.2)
    assert (s.min_us, s.max_us, s.mean_us) == (100, 400, 250)
    assert s.stddev_us == pytest.approx(111.80339887498948)  # population: sqrt(12500)
    # |200-100| + |400-200| + |300-400|: the lost probe is skipped, not a gap of zero
    assert s.jitter_us == pytest.approx(400 / 3)
    # sorted 100 200 300 400; type 7: h = q * 3
    assert s.p50_us == 250  # h = 1.5
    assert s.p70_us == pytest.approx(310)  # h = 2.1
    assert s.p90_us == pytest.approx(370)  # h = 2.7
    assert s.p95_us == pytest.approx(385)
    assert s.p99_us == pytest.approx(397)


def test_duplicates_are_not_received_probes() -> None:
    s = compute_stats(TargetResult(target="a", sent=3, received=3, duplicates=5, rtts_us=[1, 2, 3]))
    assert s.loss_ratio == 0.0 and s.received == 3 and s.duplicates == 5


def test_all_lost() -> None:
    s = compute_stats(TargetResult(target="a", sent=3, received=0, rtts_us=[None, None, None]))
    assert (s.sent, s.received, s.loss_ratio) == (3, 0, 1.0)
    assert all(getattr(s, f) is None for f in FIELDS if f.endswith("_us"))


def test_single_sample() -> None:
    s = compute_stats(TargetResult(target="a", sent=2, received=1, rtts_us=[None, 4242]))
    assert s.loss_ratio == 0.5
    assert (s.min_us, s.mean_us, s.max_us, s.stddev_us) == (4242, 4242, 4242, 0.0)
    assert s.jitter_us is None  # needs two received RTTs
    assert all(getattr(s, name) == 4242 for name, _ in PERCENTILES)


def test_counts_derived_from_per_probe_values_when_fping_printed_none() -> None:
    s = compute_stats(TargetResult(target="a", rtts_us=[10, None, None, 30]))
    assert (s.sent, s.received, s.loss_ratio) == (4, 2, 0.5)


def test_summary_only_gives_min_mean_max() -> None:
    s = compute_stats(
        TargetResult(target="a", sent=10, received=9, min_us=900, avg_us=1000, max_us=1500)
    )
    assert (s.min_us, s.mean_us, s.max_us) == (900, 1000, 1500)
    assert s.loss_ratio == pytest.approx(0.1)
    assert s.stddev_us is None and s.jitter_us is None and s.p50_us is None


def test_nothing_sent_means_unknown_loss() -> None:
    assert compute_stats(TargetResult(target="a")).loss_ratio is None
    assert compute_stats(TargetResult(target="a", sent=0, received=0)).loss_ratio is None


def test_matches_statistics_and_numpy_references() -> None:
    rng = np.random.default_rng(7)
    rtts = [int(v) for v in rng.lognormal(9, 1, 501)]
    s = compute_stats(TargetResult(target="a", sent=501, received=501, rtts_us=list(rtts)))
    assert s.mean_us == pytest.approx(statistics.fmean(rtts))
    assert s.stddev_us == pytest.approx(statistics.pstdev(rtts))
    for name, q in PERCENTILES:
        assert getattr(s, name) == pytest.approx(float(np.quantile(rtts, q)), rel=1e-12)
    assert s.jitter_us == pytest.approx(float(np.mean(np.abs(np.diff(rtts)))))


def test_percentile_helper() -> None:
    assert percentile([10, 20, 30, 40], 0.5) == 25
    assert percentile([10, 20, 30, 40], 0) == 10 and percentile([10, 20, 30, 40], 1) == 40
    assert percentile([5], 0.99) == 5
    with pytest.raises(InvalidSpecError):
        percentile([1, 2], 95)  # fractions, not percent
    with pytest.raises(InvalidSpecError):
        percentile([], 0.5)


def test_many_on_empty_input() -> None:
    assert compute_stats_many([]) == []


def _assert_same(a: LatencyStats, b: LatencyStats) -> None:
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is y, field
        else:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9), field


rtt_lists = st.lists(st.one_of(st.none(), st.integers(-10, 10**7)), max_size=40)
results = st.builds(
    TargetResult,
    target=st.sampled_from(["a", "b", "::1"]),
    sent=st.one_of(st.none(), st.integers(0, 50)),
    received=st.one_of(st.none(), st.integers(0, 50)),
    duplicates=st.integers(0, 3),
    rtts_us=st.one_of(st.none(), rtt_lists),
    min_us=st.one_of(st.none(), st.integers(0, 10**6)),
    avg_us=st.one_of(st.none(), st.integers(0, 10**6)),
    max_us=st.one_of(st.none(), st.integers(0, 10**6)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(results, max_size=25))
def test_many_equals_one_by_one(batch: list[TargetResult]) -> None:
    assert compute_stats_many(batch) == [compute_stats(r) for r in batch]


@settings(max_examples=150, deadline=None)
@given(st.lists(results, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_many_equals_one_by_one_in_large_blocks(
    distinct: list[TargetResult], rng: random.Random
) -> None:
    # Many targets per row length: the vectorized path, not the scalar one for small groups.
    batch = distinct * 40
    rng.shuffle(batch)
    assert compute_stats_many(batch) == [compute_stats(r) for r in batch]


def _mixed_batch(n: int, seed: int) -> list[TargetResult]:
    """Every kind of target fping reports, in random order, of a few probe counts."""
    rng = np.random.default_rng(seed)
    batch = []
    for i in range(n):
        kind = rng.integers(0, 10)
        count = int(rng.choice([1, 2, 5, 20, 33]))
        rtts: list[int | None] = rng.lognormal(9, 1.5, count).astype(int).tolist()
        rtts = [None if rng.random() < 0.1 else v for v in rtts]
        if kind == 0:  # down: every probe lost
            batch.append(
                TargetResult(target=f"t{i}", sent=count, received=0, rtts_us=[None] * count)
            )
        elif kind == 1:  # -c summary only
            lo, hi = sorted(rng.integers(1, 10**6, 2).tolist())
            batch.append(
                TargetResult(target=f"t{i}", sent=20, received=19, min_us=lo, avg_us=hi, max_us=hi)
            )
        elif kind == 2:  # name never resolved
            batch.append(TargetResult(target=f"t{i}"))
        elif kind == 3:  # no counts printed: derived from the values
            batch.append(TargetResult(target=f"t{i}", rtts_us=rtts))
        else:
            received = sum(v is not None for v in rtts)
            batch.append(
                TargetResult(
                    target=f"t{i}",
                    sent=count,
                    received=received,
                    duplicates=int(rng.integers(0, 2)),
                    rtts_us=rtts,
                )
            )
    return batch


def test_many_equals_one_by_one_on_a_huge_mixed_batch() -> None:
    batch = _mixed_batch(30_000, seed=11)
    assert compute_stats_many(batch) == [compute_stats(r) for r in batch]


def test_many_edge_cases_in_one_vectorized_block() -> None:
    edge = [
        TargetResult(target="lost", sent=4, received=0, rtts_us=[None] * 4),
        TargetResult(target="one", sent=4, received=1, rtts_us=[None, None, 7000, None]),
        TargetResult(target="two", rtts_us=[None, 3000, None, 1000]),
        TargetResult(target="summary", sent=4, received=3, min_us=1, avg_us=2, max_us=3),
        TargetResult(target="nothing"),
        TargetResult(target="empty", sent=0, received=0, rtts_us=[]),
    ]
    batch = edge * 50  # 50 rows of length 4: the vectorized path
    many = compute_stats_many(batch)
    assert many == [compute_stats(r) for r in batch]
    lost, one, two, summary, nothing, empty = many[:6]
    assert (lost.loss_ratio, lost.min_us, lost.p99_us, lost.jitter_us) == (1.0, None, None, None)
    assert (one.min_us, one.p50_us, one.stddev_us, one.jitter_us) == (7000, 7000, 0.0, None)
    assert (two.sent, two.received, two.loss_ratio, two.jitter_us) == (4, 2, 0.5, 2000.0)
    assert (summary.min_us, summary.mean_us, summary.max_us, summary.p50_us) == (1, 2, 3, None)
    assert (nothing.sent, nothing.loss_ratio, nothing.mean_us) == (0, None, None)
    assert (empty.sent, empty.loss_ratio, empty.mean_us) == (0, None, None)


def test_many_with_rows_of_different_lengths() -> None:
    batch = [
        TargetResult(target=f"t{i}", rtts_us=list(range(1000, 1000 + 97 * (i % 7 + 1), 97)))
        for i in range(700)
    ]
    batch.append(TargetResult(target="long", rtts_us=list(range(5000, 0, -1))))
    many = compute_stats_many(batch)
    assert many == [compute_stats(r) for r in batch]
    assert [s.sent for s in many[:7]] == [1, 2, 3, 4, 5, 6, 7]
    assert many[-1].p50_us == 2500.5 and many[-1].jitter_us == 1.0


def test_many_on_a_large_batch_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    batch = []
    for i in range(2000):
        values = rng.integers(100, 100_000, size=int(rng.integers(0, 30))).tolist()
        rtts: list[int | None] = [None if rng.random() < 0.2 else v for v in values]
        batch.append(TargetResult(target=f"t{i}", rtts_us=rtts))
    for result, stats in zip(batch, compute_stats_many(batch), strict=True):
        got = [v for v in result.rtts_us or [] if v is not None]
        if not got:
            assert stats.p95_us is None
            continue
        assert stats.p95_us == pytest.approx(float(np.quantile(got, 0.95)), rel=1e-12)
        assert stats.stddev_us == pytest.approx(float(np.std(got)), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("sent", [2**60, 10**400])
def test_many_with_counts_too_large_for_floats(sent: int) -> None:
    batch = [TargetResult(target="a", sent=sent, received=3, rtts_us=[1, 2, None])] * 20
    many = compute_stats_many(batch)
    assert many == [compute_stats(r) for r in batch]
    assert many[0].sent == sent and many[0].loss_ratio == 1.0
