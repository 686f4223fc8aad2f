"""Time series for plots: the step chosen, rolled-up windows never split, every sample in
exactly one point, percentiles from merged sketches (within 1 % of the exact quantiles)."""

from __future__ import annotations

import random

import pytest

from adapters.memory import FakeClock, InMemoryMeasurementStore
from cloudperf_core import service
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import MeasurementReport, PlaceQuery, ProbeSpec, TargetResult
from cloudperf_core.service.queries import query_series
from cloudperf_core.stats import percentile
from cloudperf_core.windows.series import align, choose_step_s, series_points

DAY_S = 86_400


@pytest.mark.parametrize(
    ("span_s", "lengths", "requested", "step"),
    [
        (3600, (), None, 60),  # 60 points: windows are a minute, no finer
        (6 * 3600, (), None, 120),  # 180 points
        (DAY_S, (), None, 300),  # 288
        (7 * DAY_S, (), None, 3600),  # 168
        (30 * DAY_S, (), None, 10_800),  # 240
        (400 * DAY_S, (), None, 172_800),  # 200
        (10 * 365 * DAY_S, (), None, 13 * DAY_S),  # beyond the nice steps: whole days
        (6 * 3600, (60, 3600), None, 3600),  # rolled-up hours in range: never split one
        (3 * DAY_S, (60, DAY_S), None, DAY_S),
        (3600, (60,), 90, 120),  # an explicit step, rounded up to whole windows
        (3600, (60,), 600, 600),
        (3600, (), 7, 7),
    ],
)
def test_choose_step(
    span_s: int, lengths: tuple[int, ...], requested: int | None, step: int
) -> None:
    assert choose_step_s(span_s, lengths, requested) == step
    if requested is None:
        assert span_s / step <= 300


def test_bad_steps_and_ranges() -> None:
    for span_s, requested in ((0, None), (-5, None), (DAY_S, 60), (3600, 0)):
        with pytest.raises(InvalidSpecError):
            choose_step_s(span_s, (), requested)
    with pytest.raises(InvalidSpecError):
        series_points([], 30, 90, 60)  # not whole steps
    assert align(61, 119, 60) == (60, 120) and align(60, 120, 60) == (60, 120)


def report(report_id: str, start_ms: int, rtts: list[int | None]) -> MeasurementReport:
    result = TargetResult(
        target="192.0.2.1", sent=len(rtts), received=sum(v is not None for v in rtts), rtts_us=rtts
    )
    return MeasurementReport(
        report_id=report_id, source="lab", started_at_ms=start_ms,
        spec=ProbeSpec(targets=("192.0.2.1",), count=len(rtts)), results=[result],
    )  # fmt: skip


async def test_rolled_up_hours_and_fresh_minutes_in_one_series() -> None:
    clock = FakeClock()
    now_s = clock.now_ms() // 1000
    store = InMemoryMeasurementStore()
    rng = random.Random(3)
    samples: dict[int, list[int]] = {}  # hour start -> received RTTs

    async def put(i: int, at_s: int, window_s: int) -> None:
        rtts: list[int | None] = [rng.randrange(1_000, 90_000) for _ in range(20)] + [None]
        hour = at_s - at_s % 3600
        samples.setdefault(hour, []).extend(v for v in rtts if v is not None)
        await service.ingest_reports(
            store, [report(f"r{i}", at_s * 1000, rtts)], window_s=window_s, clock=clock
        )

    # Five hours back as hour windows (as retention leaves them), the last hour as minutes.
    for i in range(50):
        await put(i, now_s - 6 * 3600 + i * 360, 3600 if i < 45 else 60)
    query = PlaceQuery(since_s=now_s - 6 * 3600 + 1800, until_s=now_s)
    series = await query_series(store, query)
    # 6 h would be 2-minute steps; the hour windows make it hours, the range widened to them.
    assert series.step_s == 3600
    assert series.since_s == (now_s - 6 * 3600 + 1800) // 3600 * 3600
    points = series.points
    assert [p.start_s for p in points] == list(range(series.since_s, series.until_s, 3600))
    assert sum(p.sent for p in points) == 50 * 21  # every sample in exactly one point
    for point in points:
        got = samples.get(point.start_s, [])
        assert point.received == len(got)
        if got:
            ordered = sorted(got)
            for q, value in ((0.1, point.p10_us), (0.5, point.p50_us), (0.99, point.p99_us)):
                exact = percentile(ordered, q)
                assert value is not None and abs(value - exact) <= 0.01 * exact
            assert point.min_us == ordered[0] and point.max_us == ordered[-1]
    with pytest.raises(InvalidSpecError, match="since and until"):
        await query_series(store, PlaceQuery(since_s=now_s))
