"""summarize_many (all groups at once, numpy) gives the per-row reference's floats bit for bit."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from cloudperf_core.errors import InvalidSpecError, SketchDecodeError
from cloudperf_core.models import (
    LatencyStats,
    MeasurementReport,
    ProbeSpec,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.windows import summary
from cloudperf_core.windows.aggregate import windows_for_reports
from cloudperf_core.windows.summary import FEW_ROWS, summarize, summarize_many, summarize_rows


def bits(stats: LatencyStats) -> tuple[Any, ...]:
    """Every field, floats by their bits (so 0.0 and -0.0, or two close floats, differ)."""
    return tuple(v.hex() if isinstance(v, float) else v for v in msgspec.structs.astuple(stats))


def assert_same(groups: list[list[WindowAggregate]]) -> list[LatencyStats]:
    assert sum(map(len, groups)) > FEW_ROWS  # the batch path, not the reference again
    got = summarize_many(groups)
    want = [summarize_rows(g) for g in groups]
    assert [bits(s) for s in got] == [bits(s) for s in want]
    return got


def result(rng: random.Random, target: str) -> TargetResult:
    kind = rng.random()
    count = rng.choice((1, 2, 5, 10, 20))
    if kind < 0.1:  # every probe lost
        return TargetResult(target=target, sent=count, received=0, rtts_us=[None] * count)
    if kind < 0.15:  # fping -c: a summary, no per-probe values
        rtt = rng.randint(1, 300_000)
        return TargetResult(target=target, sent=count, received=count, min_us=rtt, avg_us=rtt,
                            max_us=rtt + rng.randint(0, 999))  # fmt: skip
    base = rng.choice((0, 1, 900, 20_000, 250_000, 3_000_000))
    rtts: list[int | None] = [
        None if rng.random() < 0.2 else int(base * (1 + rng.expovariate(3))) for _ in range(count)
    ]
    if rng.random() < 0.05:
        rtts[0] = -rng.randint(1, 50)  # a clock step: a negative RTT
    got = sum(v is not None for v in rtts)
    dups = rng.choice((0, 0, 0, 1, 3))
    return TargetResult(target=target, sent=count, received=got, duplicates=dups, rtts_us=rtts)


def random_rows(seed: int, n_reports: int, targets: int) -> list[WindowAggregate]:
    rng = random.Random(seed)
    reports = [
        MeasurementReport(
            report_id=f"r{i}",
            source=f"p{rng.randrange(5)}",
            started_at_ms=1_700_000_000_000 + rng.randrange(3600) * 1000,
            spec=ProbeSpec(targets=("t0",)),
            results=[result(rng, f"t{rng.randrange(targets)}") for _ in range(rng.randint(1, 30))],
        )
        for i in range(n_reports)
    ]
    return [row for rw in windows_for_reports(reports) for row in rw.windows]


def random_groups(rows: list[WindowAggregate], seed: int, n_groups: int) -> list[list[Any]]:
    """Rows dealt into groups of skewed sizes; some empty, some single, some rows twice."""
    rng = random.Random(seed)
    groups: list[list[WindowAggregate]] = [[] for _ in range(n_groups)]
    for row in rows:
        g = min(int(rng.paretovariate(1.2)) - 1, n_groups - 1)
        groups[rng.randrange(n_groups) if rng.random() < 0.7 else g].append(row)
        if rng.random() < 0.05:  # the same row in two groups (a location in two groups)
            groups[rng.randrange(n_groups)].append(row)
    rng.shuffle(groups)
    return groups


@pytest.mark.parametrize("seed", range(8))
def test_batch_equals_the_reference_on_random_groups(seed: int) -> None:
    rows = random_rows(seed, n_reports=60, targets=40)
    groups = random_groups(rows, seed, n_groups=1 + seed * 60)
    groups.append([])
    groups.append(rows[:1])
    got = assert_same(groups)
    assert got[-2] == LatencyStats()  # an empty group: nothing sent, no figures


def test_groups_longer_than_the_rank_steps_keep_the_row_order() -> None:
    # 1e16 first swallows every later 1.0; last, it comes after their sum: other floats.
    rows = random_rows(11, n_reports=200, targets=3)
    odd = [
        msgspec.structs.replace(row, rtt_sumsq_us2=1e16 if i == 0 else 1.0)
        for i, row in enumerate(rows)
    ]
    long = [odd[: summary._RANK_STEPS * 3], odd[: summary._RANK_STEPS + 1], odd[5:9]]
    forward = assert_same(long)
    backward = assert_same([g[::-1] for g in long])
    assert forward[0].stddev_us != backward[0].stddev_us  # the order does show in the floats


def test_all_loss_and_empty_sketches() -> None:
    lost = [
        WindowAggregate(source="s", target=f"t{i}", window_start_s=60 * i, window_s=60, sent=10)
        for i in range(40)
    ]
    got = assert_same([lost[:20], lost[20:], lost[:1]])
    assert (got[0].sent, got[0].received, got[0].loss_ratio, got[0].p50_us) == (200, 0, 1.0, None)


def test_groups_the_batch_does_not_take_go_through_the_reference() -> None:
    rows = random_rows(3, n_reports=30, targets=10)
    coarse = LatencySketch(0.05)
    coarse.add_many([1000, 2000])
    other_accuracy = msgspec.structs.replace(rows[0], sketch=coarse.to_bytes())
    huge = msgspec.structs.replace(rows[1], sent=2**62, rtt_sum_us=2**60)
    groups = [rows[2:20], [huge, *rows[20:25]], rows[25:]]
    assert_same(groups)  # huge counts: exact Python integers, as in the reference
    with pytest.raises(InvalidSpecError):  # cannot merge a 5 % sketch into a 1 % one
        summarize_many([*groups, [other_accuracy]])
    with pytest.raises(SketchDecodeError):
        summarize_many([*groups, [msgspec.structs.replace(rows[0], sketch=b"\x02bad")]])


def test_summarize_is_the_batch_with_one_group() -> None:
    rows = random_rows(5, n_reports=40, targets=4)
    assert len(rows) > FEW_ROWS
    assert bits(summarize(iter(rows))) == bits(summarize_rows(rows))
    assert summarize([]) == LatencyStats()
