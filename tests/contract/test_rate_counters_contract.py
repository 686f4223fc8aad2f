"""RateCounters contract: per-minute buckets, ranges, independence, pruning past the horizon."""

from __future__ import annotations

from typing import Any

from tests.contract.makers.memory_extras import COUNTER_HORIZON_S

MIN_MS = 60_000
T0_MS = 28_333_333 * MIN_MS  # a minute boundary


async def test_hits_land_in_their_minute(counters: Any) -> None:
    assert await counters.hit("reports", T0_MS) == 1
    assert await counters.hit("reports", T0_MS + 59_999, 4) == 5
    assert await counters.hit("reports", T0_MS + MIN_MS) == 1
    assert await counters.hit("reports", T0_MS + 3 * MIN_MS + 7, 2) == 2

    assert await counters.per_minute("reports", T0_MS, T0_MS + 10 * MIN_MS) == [
        (T0_MS, 5),
        (T0_MS + MIN_MS, 1),
        (T0_MS + 3 * MIN_MS, 2),
    ]


async def test_per_minute_range_is_half_open_on_minute_starts(counters: Any) -> None:
    for minute in range(4):
        await counters.hit("x", T0_MS + minute * MIN_MS, minute + 1)

    got = await counters.per_minute("x", T0_MS + MIN_MS, T0_MS + 3 * MIN_MS)

    assert got == [(T0_MS + MIN_MS, 2), (T0_MS + 2 * MIN_MS, 3)]
    assert await counters.per_minute("x", T0_MS + 4 * MIN_MS, T0_MS + 9 * MIN_MS) == []


async def test_names_are_independent(counters: Any) -> None:
    await counters.hit("logins", T0_MS, 3)
    await counters.hit("reports", T0_MS, 7)

    assert await counters.per_minute("logins", T0_MS, T0_MS + MIN_MS) == [(T0_MS, 3)]
    assert await counters.per_minute("reports", T0_MS, T0_MS + MIN_MS) == [(T0_MS, 7)]
    assert await counters.per_minute("never", T0_MS, T0_MS + MIN_MS) == []


async def test_minutes_older_than_the_horizon_are_dropped(counters: Any) -> None:
    horizon_ms = COUNTER_HORIZON_S * 1000
    await counters.hit("x", T0_MS, 5)
    await counters.hit("x", T0_MS + MIN_MS, 6)
    # Exactly one horizon after the first minute: both are still within reach.
    await counters.hit("x", T0_MS + horizon_ms, 1)
    assert len(await counters.per_minute("x", 0, T0_MS + 2 * horizon_ms)) == 3

    # One minute later, the first minute has fallen out of the horizon.
    await counters.hit("x", T0_MS + horizon_ms + MIN_MS, 1)

    assert await counters.per_minute("x", 0, T0_MS + 2 * horizon_ms) == [
        (T0_MS + MIN_MS, 6),
        (T0_MS + horizon_ms, 1),
        (T0_MS + horizon_ms + MIN_MS, 1),
    ]
