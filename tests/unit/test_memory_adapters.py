"""Entry-point wiring, SQLite file handling, and the fakes' clock-driven behaviour."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.memory import (
    FakeClock,
    InMemoryCache,
    InMemoryCatalog,
    InMemoryJobQueue,
    InMemoryReportQueue,
)
from adapters.sqlite import SCHEMA_VERSION, SqliteCatalog, SqliteMeasurementStore, path_from_url
from cloudperf_core import backends
from cloudperf_core.catalog import Location
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    NotFoundError,
)
from cloudperf_core.models import (
    Job,
    MeasurementReport,
    ProbeSpec,
    ReportWindows,
    StatsQuery,
    TargetResult,
)
from cloudperf_core.windows.aggregate import windows_for_report


def report(report_id: str = "r1") -> ReportWindows:
    return windows_for_report(
        MeasurementReport(
            report_id=report_id,
            source="lab",
            started_at_ms=1_700_000_000_000,
            spec=ProbeSpec(targets=("127.0.0.1",), count=3),
            results=[TargetResult(target="127.0.0.1", sent=3, received=2, rtts_us=[5, None, 7])],
        )
    )


async def test_open_store_finds_memory_and_sqlite_through_entry_points(tmp_path: Path) -> None:
    memory = await backends.open_store("memory://")
    db = tmp_path / "sub dir" / "cloudperf.db"
    sqlite = await backends.open_store("sqlite:///" + str(db))
    try:
        for store in (memory, sqlite):
            assert (await store.ingest([report()])).ingested == ["r1"]
            assert [w.sent for w in await store.fetch_windows(StatsQuery())] == [3]
        assert db.is_file()
        # memory:// gives a fresh store per call: nothing is shared behind the user's back.
        assert await (await backends.open_store("memory://")).fetch_windows(StatsQuery()) == []
    finally:
        await sqlite.close()


async def test_every_memory_port_opens() -> None:
    assert isinstance(await backends.open_job_queue("memory://"), InMemoryJobQueue)
    assert isinstance(await backends.open_report_queue("memory://"), InMemoryReportQueue)
    assert isinstance(await backends.open_cache("memory://"), InMemoryCache)
    assert isinstance(await backends.open_catalog("memory://"), InMemoryCatalog)


async def test_sqlite_store_and_catalogue_open_on_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cp.db'}"
    catalog = await backends.open_catalog(url)
    store = await backends.open_store(url)
    try:
        assert isinstance(catalog, SqliteCatalog)
        await catalog.put_locations([Location(name="lab")])
        # The store's own view of the same file sees what the other connection wrote.
        assert isinstance(store, SqliteMeasurementStore)
        found = await store.catalog.get_location("lab")
        assert found is not None and found.name == "lab"
    finally:
        await store.close()
        await catalog.close()


async def test_unknown_scheme_and_wrong_port_are_config_errors() -> None:
    with pytest.raises(BackendConfigError, match="no backend for nosuch://"):
        await backends.open_store("nosuch://x")
    with pytest.raises(BackendConfigError, match="a measurement store and a catalogue, not 'jobs'"):
        await backends.open_job_queue("sqlite:///tmp/x.db")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/cp.db", "/var/lib/cp.db"),
        ("sqlite:////var/lib/cp.db", "/var/lib/cp.db"),
        ("sqlite:data/cp.db", "data/cp.db"),
        ("sqlite:///tmp/with%20space.db", "/tmp/with space.db"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_sqlite_url_paths(url: str, path: str) -> None:
    assert path_from_url(url) == path


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite://", "sqlite:///x.db?mode=ro"])
def test_bad_sqlite_urls_are_config_errors(url: str) -> None:
    with pytest.raises(BackendConfigError):
        path_from_url(url)


async def test_sqlite_refuses_a_directory_and_a_non_database(tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError, match="is a directory"):
        await SqliteMeasurementStore.open(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an sqlite file at all" * 100)
    with pytest.raises(BackendConfigError, match="not a readable SQLite database"):
        await SqliteMeasurementStore.open(junk)


async def test_sqlite_data_and_schema_version_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    store = await SqliteMeasurementStore.open(path)
    assert await store.schema_version() == SCHEMA_VERSION
    await store.ingest([report()])
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(BackendError, match="closed"):
        await store.fetch_windows(StatsQuery())

    reopened = await SqliteMeasurementStore.open(path)
    try:
        assert await reopened.migrate() == []
        assert (await reopened.ingest([report()])).duplicates == ["r1"]
        assert len(await reopened.fetch_windows(StatsQuery())) == 1
    finally:
        await reopened.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(BackendConfigError, match="newer than this cloudperf"):
        await SqliteMeasurementStore.open(path)


async def test_sqlite_write_lock_held_elsewhere_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = await SqliteMeasurementStore.open(path, busy_timeout_s=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(BackendUnavailableError):
            await store.ingest([report()])
        other.execute("ROLLBACK")
        # Nothing half-written: once the lock is gone the same report goes in cleanly.
        assert (await store.ingest([report()])).ingested == ["r1"]
    finally:
        other.close()
        await store.close()


async def test_fake_clock_drives_job_leases() -> None:
    clock = FakeClock()
    queue = InMemoryJobQueue(clock=clock)
    await queue.issue([Job(job_id="j", source="lab", spec=ProbeSpec(targets=("::1",)))])
    (first,) = await queue.lease("lab", 5, lease_s=10)
    assert first.lease_expires_at_ms == clock.now_ms() + 10_000

    await clock.sleep(9.9)
    assert await queue.lease("lab", 5, 10) == []
    await queue.extend(first.lease_id, 10)
    clock.advance(10)
    with pytest.raises(NotFoundError):
        await queue.ack(first.lease_id)

    (second,) = await queue.lease("lab", 5, 10)
    assert second.deliveries == 2
    await queue.ack(second.lease_id)
    assert len(queue) == 0


async def test_fake_clock_drives_message_visibility_and_cache_ttl() -> None:
    clock = FakeClock()
    queue = InMemoryReportQueue(clock=clock, max_receives=2)
    cache = InMemoryCache(clock=clock)
    await queue.send([b"m"])
    await cache.set("k", b"v", ttl_s=5)

    assert [m.deliveries for m in await queue.receive(1, 5)] == [1]
    clock.advance(5)
    assert [m.deliveries for m in await queue.receive(1, 5)] == [2]
    assert await cache.get("k") is None
    clock.advance(5)
    # Two receives used up: the message dead-letters on the next look instead of returning.
    assert await queue.receive(1, 5) == []
    assert [m.body for m in await queue.dead_letters(10)] == [b"m"]


async def test_incr_on_a_non_counter_is_a_backend_error() -> None:
    cache = InMemoryCache()
    await cache.set("k", b"not a number")
    with pytest.raises(BackendError):
        await cache.incr("k")
