"""Exact per-batch statistics: definitions, edge cases, vectorized == scalar."""

from __future__ import annotations

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
    many = compute_stats_many(batch)
    assert len(many) == len(batch)
    for result, stats in zip(batch, many, strict=True):
        _assert_same(stats, compute_stats(result))


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
