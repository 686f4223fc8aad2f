"""CachingMeasurementStore over the in-memory store and cache: hits, invalidation, outages."""

from __future__ import annotations

import logging

import pytest

from adapters.memory import FakeClock, InMemoryCache, InMemoryMeasurementStore
from cloudperf_core.caching import CachingMeasurementStore
from cloudperf_core.errors import BackendUnavailableError, InvalidSpecError
from cloudperf_core.models import ReportWindows, StatsQuery, WindowAggregate

ALL = StatsQuery()
FRA = StatsQuery(sources=("fra",))


def report(report_id: str, source: str = "fra", sent: int = 10) -> ReportWindows:
    window = WindowAggregate(
        source=source, target="127.0.0.1", window_start_s=600, window_s=300, sent=sent
    )
    return ReportWindows(report_id=report_id, windows=[window])


def total_sent(rows: list[WindowAggregate]) -> int:
    return sum(w.sent for w in rows)


class DownCache:
    """A cache whose server is unreachable."""

    async def get(self, key: str) -> bytes | None:
        raise BackendUnavailableError("cache down")

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        raise BackendUnavailableError("cache down")

    async def delete(self, *keys: str) -> None:
        raise BackendUnavailableError("cache down")

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        raise BackendUnavailableError("cache down")

    async def close(self) -> None:
        pass


class GarbledResultsCache(InMemoryCache):
    """A cache whose stored query results come back corrupted."""

    async def get(self, key: str) -> bytes | None:
        value = await super().get(key)
        return b"\xc1garbage" if value is not None and ":result:" in key else value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def inner() -> InMemoryMeasurementStore:
    return InMemoryMeasurementStore()


@pytest.fixture
def store(inner: InMemoryMeasurementStore, clock: FakeClock) -> CachingMeasurementStore:
    return CachingMeasurementStore(inner, InMemoryCache(clock), ttl_s=60)


async def test_repeated_query_is_answered_from_the_cache(
    store: CachingMeasurementStore, inner: InMemoryMeasurementStore
) -> None:
    await store.ingest([report("r1")])
    first = await store.fetch_windows(ALL)
    # A write that bypasses the wrapper is invisible until the cached result goes.
    await inner.ingest([report("r2")])

    assert await store.fetch_windows(ALL) == first
    assert total_sent(first) == 10


async def test_a_write_through_the_wrapper_invalidates_every_cached_query(
    store: CachingMeasurementStore,
) -> None:
    await store.ingest([report("r1", "fra"), report("r2", "ams")])
    assert total_sent(await store.fetch_windows(ALL)) == 20
    assert total_sent(await store.fetch_windows(FRA)) == 10

    outcome = await store.ingest([report("r3", "fra", sent=5)])

    assert outcome.ingested == ["r3"]
    assert total_sent(await store.fetch_windows(ALL)) == 25
    assert total_sent(await store.fetch_windows(FRA)) == 15


async def test_different_queries_get_their_own_results(store: CachingMeasurementStore) -> None:
    await store.ingest([report("r1", "fra"), report("r2", "ams", sent=3)])

    assert total_sent(await store.fetch_windows(FRA)) == 10
    assert total_sent(await store.fetch_windows(StatsQuery(sources=("ams",)))) == 3
    assert await store.fetch_windows(StatsQuery(sources=("nyc",))) == []


async def test_cached_results_expire_after_the_ttl(
    store: CachingMeasurementStore, inner: InMemoryMeasurementStore, clock: FakeClock
) -> None:
    await store.fetch_windows(ALL)
    await inner.ingest([report("r1")])
    clock.advance(59)
    assert await store.fetch_windows(ALL) == []

    clock.advance(2)

    assert total_sent(await store.fetch_windows(ALL)) == 10


async def test_a_retried_ingest_of_duplicates_still_invalidates(
    store: CachingMeasurementStore, inner: InMemoryMeasurementStore
) -> None:
    await store.fetch_windows(ALL)
    # The first attempt wrote, then failed to invalidate; the caller retries the batch.
    await inner.ingest([report("r1")])

    outcome = await store.ingest([report("r1")])

    assert outcome.duplicates == ["r1"]
    assert total_sent(await store.fetch_windows(ALL)) == 10


async def test_an_empty_ingest_keeps_the_cache(
    store: CachingMeasurementStore, inner: InMemoryMeasurementStore
) -> None:
    await store.fetch_windows(ALL)
    await inner.ingest([report("r1")])

    await store.ingest([])

    assert await store.fetch_windows(ALL) == []


async def test_queries_still_work_while_the_cache_is_down(
    inner: InMemoryMeasurementStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = CachingMeasurementStore(inner, DownCache())
    await inner.ingest([report("r1")])

    with caplog.at_level(logging.WARNING):
        rows = await store.fetch_windows(ALL)

    assert total_sent(rows) == 10
    assert "cache unavailable" in caplog.text


async def test_a_write_that_cannot_invalidate_is_reported_and_safe_to_retry(
    inner: InMemoryMeasurementStore, clock: FakeClock
) -> None:
    down = CachingMeasurementStore(inner, DownCache())
    with pytest.raises(BackendUnavailableError):
        await down.ingest([report("r1")])

    # The write itself landed; retrying through a working cache reports it as a duplicate.
    cache = InMemoryCache(clock)
    store = CachingMeasurementStore(inner, cache)
    outcome = await store.ingest([report("r1")])
    assert outcome.duplicates == ["r1"]
    assert total_sent(await store.fetch_windows(ALL)) == 10


async def test_an_undecodable_cache_entry_is_treated_as_a_miss(
    inner: InMemoryMeasurementStore, clock: FakeClock
) -> None:
    store = CachingMeasurementStore(inner, GarbledResultsCache(clock))
    assert await store.fetch_windows(ALL) == []
    await inner.ingest([report("r1")])  # bypasses the wrapper: only a cache miss sees it

    assert total_sent(await store.fetch_windows(ALL)) == 10


def test_ttl_must_be_positive(inner: InMemoryMeasurementStore) -> None:
    with pytest.raises(InvalidSpecError):
        CachingMeasurementStore(inner, InMemoryCache(), ttl_s=0)
