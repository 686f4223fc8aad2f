"""Migrations, schema checks, URLs and error mapping of the Aurora adapter on real MariaDB."""

from __future__ import annotations

import asyncio

import asyncmy
import pytest

from adapters.aurora import AuroraMeasurementStore, open_backend
from adapters.aurora.migrate import REQUIRED_VERSION
from cloudperf_core.backends import open_store
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError
from cloudperf_core.models import ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.ports import Migratable
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, temp_database

pytestmark = pytest.mark.services


async def _tables(url_db: str) -> set[str]:
    conn = await asyncmy.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", database=url_db)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SHOW TABLES")
            return {r[0] for r in await cur.fetchall()}
    finally:
        conn.close()


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


async def test_migrate_creates_every_table_once_and_records_the_version() -> None:
    async with temp_database(migrate=False) as (url, store):
        assert await store.schema_version() == 0
        assert await store.migrate() == list(range(1, REQUIRED_VERSION + 1))
        assert await store.schema_version() == REQUIRED_VERSION
        assert await store.migrate() == []  # second run is a no-op
        assert await store.schema_version() == REQUIRED_VERSION
        assert {
            "locations",
            "address_ranges",
            "reachable_addresses",
            "probes",
            "users",
            "location_groups",
            "ingested_reports",
            "measurements",
            "schema_migrations",
        } <= await _tables(_db_name(url))


async def test_concurrent_migrations_apply_each_version_once() -> None:
    async with temp_database(migrate=False) as (url, store):
        other = await open_backend(url, "store")
        try:
            results = await asyncio.gather(store.migrate(), other.migrate())
        finally:
            await other.close()
        assert sorted(v for r in results for v in r) == list(range(1, REQUIRED_VERSION + 1))


async def test_an_unmigrated_database_says_how_to_fix_it() -> None:
    async with temp_database(migrate=False) as (_, store):
        row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=1)
        with pytest.raises(BackendConfigError, match=r"schema version 0 < required \d+") as exc:
            await store.ingest([ReportWindows(report_id="r1", windows=[row])])
        assert "cloudperf db migrate --store mysql://" in str(exc.value)
        with pytest.raises(BackendConfigError, match="cloudperf db migrate"):
            await store.fetch_windows(StatsQuery())
        await store.migrate()
        assert (await store.ingest([ReportWindows(report_id="r1", windows=[row])])).ingested == [
            "r1"
        ]


async def test_the_entry_point_opens_a_migratable_store() -> None:
    async with temp_database() as (url, _):
        store = await open_store(url)
        try:
            assert isinstance(store, AuroraMeasurementStore)
            assert isinstance(store, Migratable)
            assert await store.fetch_windows(StatsQuery()) == []
        finally:
            await store.close()


async def test_only_the_store_port_is_offered() -> None:
    with pytest.raises(BackendConfigError, match="measurement store"):
        await open_backend("mysql://root@127.0.0.1/x", "jobs")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@127.0.0.1:3306/",
        "mysql://root@127.0.0.1/db?pool_size=0",
        "mysql://root@127.0.0.1/db?bogus=1",
        "mysql://root@127.0.0.1/db?connect_timeout_s=soon",
    ],
)
async def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(BackendConfigError):
        await open_backend(url, "store")


async def test_a_wrong_password_is_reported_without_the_password() -> None:
    store = await open_backend("mysql://nobody:s3cret-pw@127.0.0.1:3306/mysql", "store")
    try:
        with pytest.raises(BackendConfigError) as exc:
            await store.schema_version()
        assert "s3cret-pw" not in str(exc.value)
        assert "***" in str(exc.value)
    finally:
        await store.close()


async def test_a_server_that_is_down_is_unavailable_not_a_hang() -> None:
    # Port 9 on loopback: nothing listens, the connect is refused at once.
    url = "mysql://root:pw@127.0.0.1:9/db?connect_timeout_s=1&max_attempts=2&backoff_s=0.01"
    store = await open_backend(url, "store")
    try:
        with pytest.raises(BackendUnavailableError, match="after 2 attempts") as exc:
            await store.schema_version()
        assert ":pw@" not in str(exc.value)
    finally:
        await store.close()
