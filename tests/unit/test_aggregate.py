"""Window aggregation: report -> rows -> merged stats, never averaged percentiles."""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    MeasurementReport,
    ProbeSpec,
    TargetResult,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.stats import PERCENTILES, compute_stats
from cloudperf_core.windows import aggregate as aggregate_module
from cloudperf_core.windows.aggregate import (
    _result_window,
    load_sketch,
    merge_into,
    merge_many,
    merge_windows,
    rewindow,
    summarize,
    window_key,
    window_start,
    windows_for_report,
    windows_for_reports,
)


def report(
    results: list[TargetResult], *, source: str = "fra", started_at_ms: int = 1_700_000_123_456
) -> MeasurementReport:
    return MeasurementReport(
        report_id=f"r-{random.random()}",
        source=source,
        started_at_ms=started_at_ms,
        spec=ProbeSpec(targets=tuple(r.target for r in results)),
        results=results,
    )


def rows_of(*reports: MeasurementReport, window_s: int = 60) -> list[WindowAggregate]:
    merged: dict[WindowKey, WindowAggregate] = {}
    for rep in reports:
        merge_into(merged, windows_for_report(rep, window_s).windows)
    return list(merged.values())


def test_one_row_per_target_with_exact_fields() -> None:
    rep = report(
        [
            TargetResult(
                target="a", sent=5, received=4, duplicates=1, rtts_us=[100, 300, None, 200, 250]
            ),
            TargetResult(target="b", sent=2, received=0, rtts_us=[None, None]),
        ]
    )
    out = windows_for_report(rep, window_s=60)
    assert out.report_id == rep.report_id
    a, b = out.windows
    assert (a.source, a.target, a.window_start_s, a.window_s) == ("fra", "a", 1_700_000_100, 60)
    assert (a.sent, a.received, a.duplicates) == (5, 4, 1)
    assert (a.rtt_sum_us, a.rtt_sumsq_us2, a.rtt_min_us, a.rtt_max_us) == (850, 202_500.0, 100, 300)
    assert (a.jitter_sum_us, a.jitter_pairs) == (200 + 100 + 50, 3)
    assert load_sketch(a.sketch) == _sketch([100, 300, 200, 250])
    assert (b.sent, b.received, b.rtt_min_us, b.jitter_pairs) == (2, 0, None, 0)
    assert load_sketch(b.sketch).count == 0


@pytest.mark.parametrize(
    ("started_at_ms", "window_s", "start"),
    [(0, 60, 0), (59_999, 60, 0), (60_000, 60, 60), (3_599_999, 3600, 0), (-1, 60, -60)],
)
def test_window_start_is_floored(started_at_ms: int, window_s: int, start: int) -> None:
    rep = report([TargetResult(target="a", rtts_us=[1])], started_at_ms=started_at_ms)
    assert windows_for_report(rep, window_s).windows[0].window_start_s == start


def test_bad_window_length_is_rejected() -> None:
    with pytest.raises(InvalidSpecError):
        windows_for_report(report([]), window_s=0)


def test_same_target_twice_in_one_report_gives_one_row() -> None:
    rep = report(
        [
            TargetResult(target="a", sent=2, received=2, rtts_us=[10, 20]),
            TargetResult(target="a", sent=2, received=1, rtts_us=[None, 1000]),
        ]
    )
    (row,) = windows_for_report(rep).windows
    assert (row.sent, row.received, row.rtt_min_us, row.rtt_max_us) == (4, 3, 10, 1000)
    # jitter pairs stay within each batch: 10->20 only, never 20->1000
    assert (row.jitter_sum_us, row.jitter_pairs) == (10, 1)
    assert load_sketch(row.sketch) == _sketch([10, 20, 1000])


def test_summary_only_result_adds_counts_min_max_sum_but_no_sketch() -> None:
    rep = report(
        [TargetResult(target="a", sent=10, received=8, min_us=900, avg_us=1000, max_us=1500)]
    )
    (row,) = windows_for_report(rep).windows
    assert (row.sent, row.received, row.rtt_min_us, row.rtt_max_us, row.rtt_sum_us) == (
        10, 8, 900, 1500, 8000
    )  # fmt: skip
    assert load_sketch(row.sketch).count == 0
    s = summarize([row])
    assert (s.mean_us, s.min_us, s.max_us) == (1000, 900, 1500)
    assert s.loss_ratio == pytest.approx(0.2)
    assert s.p50_us is None


def test_merge_windows_adds_counts_and_keeps_exact_extremes() -> None:
    a, b = (
        rows_of(report([TargetResult(target="a", sent=3, received=3, rtts_us=[5, 7, 6])])),
        rows_of(
            report(
                [TargetResult(target="a", sent=2, received=1, duplicates=4, rtts_us=[None, 900])]
            )
        ),
    )
    ab, ba = merge_windows(a[0], b[0]), merge_windows(b[0], a[0])
    assert ab == ba
    assert (ab.sent, ab.received, ab.duplicates, ab.rtt_min_us, ab.rtt_max_us) == (5, 4, 4, 5, 900)
    assert load_sketch(ab.sketch) == _sketch([5, 7, 6, 900])
    assert a[0].sent == 3  # inputs untouched


def test_merge_windows_refuses_different_keys() -> None:
    (a,) = rows_of(report([TargetResult(target="a", rtts_us=[1])]))
    (b,) = rows_of(report([TargetResult(target="b", rtts_us=[1])]))
    (c,) = rows_of(report([TargetResult(target="a", rtts_us=[1])], started_at_ms=0))
    for other in (b, c):
        with pytest.raises(InvalidSpecError):
            merge_windows(a, other)


def test_summarize_single_batch_agrees_with_exact_stats() -> None:
    rng = np.random.default_rng(11)
    rtts: list[int | None] = [
        None if rng.random() < 0.1 else int(v) for v in rng.lognormal(10, 1, 400)
    ]
    result = TargetResult(target="a", rtts_us=rtts)
    exact = compute_stats(result)
    merged = summarize(rows_of(report([result])))
    for field in ("sent", "received", "loss_ratio", "min_us", "max_us", "mean_us"):
        assert getattr(merged, field) == pytest.approx(getattr(exact, field), rel=1e-12), field
    assert merged.stddev_us == pytest.approx(exact.stddev_us, rel=1e-9)
    assert merged.jitter_us == pytest.approx(exact.jitter_us, rel=1e-12)
    for name, _ in PERCENTILES:
        assert getattr(merged, name) == pytest.approx(getattr(exact, name), rel=0.01), name


def test_summarize_nothing() -> None:
    s = summarize([])
    assert (s.sent, s.received, s.loss_ratio, s.mean_us, s.p95_us, s.jitter_us) == (
        0, 0, None, None, None, None
    )  # fmt: skip


def test_pooled_percentiles_come_from_merged_sketches_not_averages() -> None:
    """DESIGN's defect: avg(p95) over batches is far from the pooled p95; merging is not."""
    rng = np.random.default_rng(1995)
    batches = [
        rng.normal(12_000, 500, 100),  # quiet path
        rng.normal(14_000, 800, 100),
        rng.normal(13_000, 300, 100),
        rng.lognormal(np.log(40_000), 0.6, 100),  # congested
        rng.normal(11_000, 200, 100),
        np.concatenate([rng.normal(15_000, 500, 70), rng.normal(180_000, 20_000, 30)]),  # reroute
        rng.pareto(1.5, 100) * 20_000 + 10_000,  # heavy tail
    ]
    reports = [
        report(
            [TargetResult(target="dst", rtts_us=[int(v) for v in np.round(b)])],
            started_at_ms=1_700_000_000_000 + i * 60_000,
        )
        for i, b in enumerate(batches)
    ]
    rows = rows_of(*reports)
    assert len(rows) == 7  # one window per batch
    pooled = np.concatenate([np.round(b) for b in batches])
    exact_p95 = float(np.quantile(pooled, 0.95))
    merged_p95 = summarize(rows).p95_us
    averaged_p95 = float(np.mean([np.quantile(np.round(b), 0.95) for b in batches]))
    assert merged_p95 == pytest.approx(exact_p95, rel=0.01)
    assert abs(averaged_p95 - exact_p95) / exact_p95 > 0.2
    # min/max are the pooled extremes, not averages either
    s = summarize(rows)
    assert (s.min_us, s.max_us) == (pooled.min(), pooled.max())


def test_rewindow_rolls_up_without_changing_the_numbers() -> None:
    reports = [
        report([TargetResult(target="a", rtts_us=[100 * (i + 1), None, 50])],
               started_at_ms=3_600_000 + i * 60_000)
        for i in range(5)
    ]  # fmt: skip
    minute_rows = rows_of(*reports)
    assert len(minute_rows) == 5
    hourly: dict[WindowKey, WindowAggregate] = {}
    merge_into(hourly, (rewindow(r, 3600) for r in minute_rows))
    (hour,) = hourly.values()
    assert (hour.window_start_s, hour.window_s) == (3600, 3600)
    assert summarize([hour]) == summarize(minute_rows)
    with pytest.raises(InvalidSpecError):
        rewindow(minute_rows[0], 90)  # not a multiple of 60


window_batches = st.lists(
    st.tuples(
        st.integers(0, 5),  # minute
        st.sampled_from(["a", "b"]),
        st.lists(st.one_of(st.none(), st.integers(0, 2_000_000)), min_size=1, max_size=20),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=100, deadline=None)
@given(window_batches, st.randoms(use_true_random=False))
def test_merge_order_does_not_matter(
    batches: list[tuple[int, str, list[int | None]]], rnd: random.Random
) -> None:
    reports = [
        report([TargetResult(target=t, rtts_us=rtts)], started_at_ms=minute * 60_000)
        for minute, t, rtts in batches
    ]
    forward = summarize(rows_of(*reports))
    shuffled = list(reports)
    rnd.shuffle(shuffled)
    assert summarize(rows_of(*shuffled)) == forward
    received = [v for _, _, rtts in batches for v in rtts if v is not None]
    assert forward.sent == sum(len(r) for _, _, r in batches)
    assert forward.received == len(received)
    if received:
        for name, q in PERCENTILES:
            exact = float(np.quantile(received, q))
            assert abs(getattr(forward, name) - exact) <= 0.01 * exact + 1e-6, name


def _sketch(values: list[int]) -> LatencySketch:
    s = LatencySketch()
    s.add_many(values)
    return s


# --- the fast paths give the same rows as the straightforward ones ---------------------------

rtt_values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.integers(1, 100_000),
    st.integers(2**26 - 2, 2**26 + 2),  # around the edge of the vectorized path
)
results_st = st.builds(
    TargetResult,
    target=st.sampled_from(["a", "b", "c"]),  # repeats: one report may hit a target twice
    sent=st.one_of(st.none(), st.integers(0, 40)),
    received=st.one_of(st.none(), st.integers(0, 40)),
    duplicates=st.integers(0, 2),
    rtts_us=st.one_of(st.none(), st.lists(rtt_values, max_size=30)),
    avg_us=st.one_of(st.none(), st.integers(0, 50_000)),
    min_us=st.one_of(st.none(), st.integers(0, 50_000)),
    max_us=st.one_of(st.none(), st.integers(0, 50_000)),
)


def _reference_rows(rep: MeasurementReport, window_s: int) -> list[WindowAggregate]:
    """One row per result, merged pairwise per target: the straightforward path."""
    start = window_start(rep.started_at_ms, window_s)
    rows: dict[str, WindowAggregate] = {}
    for result in rep.results:
        row = _result_window(rep.source, result, start, window_s)
        rows[row.target] = merge_windows(rows[row.target], row) if row.target in rows else row
    return list(rows.values())


def _encoded(rows: list[WindowAggregate]) -> list[bytes]:
    # JSON tells an int 5 from a float 5.0; == on the structs would not.
    return [msgspec.json.encode(row) for row in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(results_st, min_size=0, max_size=6), min_size=1, max_size=4))
def test_batch_windows_equal_row_by_row_windows(report_results: list[list[TargetResult]]) -> None:
    reports = [
        report(results, source=f"s{i % 2}", started_at_ms=1_700_000_000_000 + 41_000 * i)
        for i, results in enumerate(report_results)
    ]
    batch = windows_for_reports(reports, 60)
    assert [b.report_id for b in batch] == [r.report_id for r in reports]
    for rep, got in zip(reports, batch, strict=True):
        assert _encoded(got.windows) == _encoded(_reference_rows(rep, 60))
        assert _encoded(windows_for_report(rep, 60).windows) == _encoded(got.windows)


def _fold(rows: list[WindowAggregate]) -> WindowAggregate:
    current = rows[0]
    for row in rows[1:]:
        current = merge_windows(current, row)
    return current


def test_chunks_of_the_vectorized_path_give_the_rows_of_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rnd = random.Random(11)
    reports = [
        report(
            [
                TargetResult(target=f"t{t}", rtts_us=[rnd.choice([None, rnd.randint(1, 9000)])] * 5)
                for t in range(7)
            ]
        )
        for _ in range(5)
    ]
    whole = windows_for_reports(reports, 60)
    monkeypatch.setattr(aggregate_module, "_CHUNK_RESULTS", 3)
    chunked = windows_for_reports(reports, 60)
    assert [_encoded(rw.windows) for rw in chunked] == [_encoded(rw.windows) for rw in whole]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(rtt_values, max_size=20), min_size=1, max_size=12))
def test_merge_many_equals_pairwise_merges(batches: list[list[int | None]]) -> None:
    rows = [
        windows_for_report(report([TargetResult(target="t", rtts_us=b)]), 60).windows[0]
        for b in batches
    ]
    merged = merge_many(rows)
    assert _encoded([merged]) == _encoded([_fold(rows)])
    assert merged.received == sum(v is not None for b in batches for v in b)
    assert (
        merged is not rows[0]
        and rows[0].sketch
        == windows_for_report(report([TargetResult(target="t", rtts_us=batches[0])]), 60)
        .windows[0]
        .sketch
    )  # inputs untouched


def test_merge_into_groups_by_key_and_equals_one_by_one() -> None:
    rnd = random.Random(7)
    reports = [
        report(
            [
                TargetResult(target=t, rtts_us=[rnd.randint(1, 90_000) for _ in range(10)])
                for t in "abc"
            ],
            source=rnd.choice(["x", "y"]),
            started_at_ms=rnd.choice([0, 60_000]),
        )
        for _ in range(40)
    ]
    new = [w for r in reports for w in windows_for_report(r, 60).windows]
    existing = {window_key(new[0]): new[0]}
    grouped = dict(existing)
    merge_into(grouped, new[1:])
    one_by_one = dict(existing)
    for row in new[1:]:
        key = window_key(row)
        one_by_one[key] = merge_windows(one_by_one[key], row) if key in one_by_one else row
    assert list(grouped) == list(one_by_one)
    assert _encoded(list(grouped.values())) == _encoded(list(one_by_one.values()))
    assert sum(r.sent for r in grouped.values()) == 40 * 3 * 10


def test_merge_many_refuses_mixed_keys_and_nothing() -> None:
    a = windows_for_report(report([TargetResult(target="a", rtts_us=[5])]), 60).windows[0]
    b = windows_for_report(report([TargetResult(target="b", rtts_us=[5])]), 60).windows[0]
    with pytest.raises(InvalidSpecError):
        merge_many([a] * 6 + [b])
    with pytest.raises(InvalidSpecError):
        merge_many([])
