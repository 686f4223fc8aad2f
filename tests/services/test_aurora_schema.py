"""Migrations, schema checks, URLs and error mapping of the Aurora adapter on real MariaDB."""

from __future__ import annotations

import asyncio

import asyncmy
import pytest

from adapters.aurora import AuroraMeasurementStore, open_backend
from adapters.aurora import migrate as aurora_migrate
from adapters.aurora.migrate import (
    CREATE_MIGRATIONS_TABLE,
    migrations,
    required_version,
    versions,
)
from cloudperf_core.backends import open_store
from cloudperf_core.catalog import Group
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError
from cloudperf_core.models import ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.ports import Migratable
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, temp_database


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
        assert await store.migrate() == versions()
        assert await store.schema_version() == required_version()
        assert await store.migrate() == []  # second run is a no-op
        assert await store.schema_version() == required_version()
        assert {
            "locations",
            "address_ranges",
            "reachable_addresses",
            "probes",
            "users",
            "location_groups",
            "catalog_groups",
            "settings",
            "discovery_sweeps",
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
        assert sorted(v for r in results for v in r) == versions()


async def test_the_digest_migration_runs_twice_harmlessly() -> None:
    # MySQL 8 has no ADD COLUMN IF NOT EXISTS: 0003 must guard its ALTER itself.
    (statements,) = [st for v, st in aurora_migrate.migrations() if v == 3]
    async with temp_database() as (url, store):
        conn = await asyncmy.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user="root", database=_db_name(url)
        )
        try:
            async with conn.cursor() as cur:
                for statement in statements:
                    await cur.execute(statement)
                await cur.execute(
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema ="
                    " DATABASE() AND table_name = 'ingested_reports' AND column_name = 'digest'"
                )
                assert (await cur.fetchone())[0] == 1
        finally:
            conn.close()
        row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=1)
        first = ReportWindows(report_id="r1", windows=[row], digest=b"a" * 16)
        other = ReportWindows(report_id="r1", windows=[row], digest=b"b" * 16)
        assert (await store.ingest([first])).ingested == ["r1"]
        assert (await store.ingest([other])).conflicts == ["r1"]


async def test_a_migration_merged_below_an_applied_one_is_applied_when_it_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = aurora_migrate.migrations()
    extra = [
        (v, (f"CREATE TABLE IF NOT EXISTS gap_{v} (x INT)",)) for v in (900, 901)
    ]  # two branches' migrations, merged in the opposite order of their numbers
    async with temp_database() as (url, store):
        monkeypatch.setattr(aurora_migrate, "migrations", lambda: (*real, extra[1]))
        assert await store.migrate() == [901]
        monkeypatch.setattr(aurora_migrate, "migrations", lambda: (*real, *extra))
        # Until 900 is applied too, the store refuses to work on a schema that lacks it.
        with pytest.raises(BackendConfigError, match="lacks migrations 900"):
            await store.fetch_windows(StatsQuery())
        assert await store.migrate() == [900]
        assert await store.fetch_windows(StatsQuery()) == []
        assert {"gap_900", "gap_901"} <= await _tables(_db_name(url))


async def test_an_unmigrated_database_says_how_to_fix_it() -> None:
    async with temp_database(migrate=False) as (_, store):
        row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=1)
        missing = r"schema version 0 lacks migrations 1\b"
        with pytest.raises(BackendConfigError, match=missing) as exc:
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


async def test_only_the_store_and_catalogue_ports_are_offered() -> None:
    with pytest.raises(BackendConfigError, match="a measurement store and a catalogue"):
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


async def test_v1_catalogue_rows_survive_migration_2_and_rerunning_it_is_harmless() -> None:
    """Schema v1 rows (seconds, a probe role, groups without a table of their own) come
    through migration 2 intact; running its statements again changes nothing."""
    (v1, v1_statements), (v2, v2_statements) = migrations()[:2]
    assert (v1, v2) == (1, 2)
    async with temp_database(migrate=False) as (_, store):
        conn = await store.database.connect_raw()
        try:
            async with conn.cursor() as cur:
                for statement in v1_statements:
                    await cur.execute(statement)
                await cur.execute(CREATE_MIGRATIONS_TABLE)
                await cur.execute("INSERT INTO schema_migrations (version) VALUES (1)")
                await cur.execute(
                    "INSERT INTO locations (name, country, city, asn) VALUES (%s, %s, %s, %s)",
                    ("AS64500 Sydney", "AU", "Sydney", 64500),
                )
                await cur.execute(
                    "INSERT INTO address_ranges (ip_version, start_addr, end_addr, location_id,"
                    " last_checked_s) VALUES (4, %s, %s, 1, 1700000000)",
                    (bytes([192, 0, 2, 0]), bytes([192, 0, 2, 255])),
                )
                await cur.execute(
                    "INSERT INTO reachable_addresses (ip_version, address, history, last_seen_s)"
                    " VALUES (4, %s, 12, 1700000001)",
                    (bytes([192, 0, 2, 7]),),
                )
                await cur.execute(
                    "INSERT INTO probes (probe_id, token_hash, location_id, role, last_seen_s)"
                    " VALUES ('p1', 'h', 1, 'probe', 1700000002)"
                )
                await cur.execute("INSERT INTO location_groups VALUES ('apac', 1)")
        finally:
            conn.close()

        assert await store.migrate() == [v for v in versions() if v > 1]
        conn = await store.database.connect_raw()
        try:
            async with conn.cursor() as cur:
                for statement in v2_statements:  # as if interrupted before the version row
                    await cur.execute(statement)
        finally:
            conn.close()

        catalog = store.catalog
        assert [loc.name for loc in await catalog.search("SYDNEY as64500 au")] == ["AS64500 Sydney"]
        (rng,) = await catalog.list_ranges()
        assert (rng.start, rng.end, rng.last_checked_ms) == (
            "192.0.2.0",
            "192.0.2.255",
            1_700_000_000_000,
        )
        (addr,) = await catalog.reachable_addresses("AS64500 Sydney")
        assert (addr.address, addr.history, addr.last_seen_ms) == (
            "192.0.2.7",
            12,
            1_700_000_001_000,
        )
        probe = await catalog.get_probe("p1")
        assert probe is not None
        assert (probe.location, probe.enabled, probe.last_seen_ms) == (
            "AS64500 Sydney",
            True,
            1_700_000_002_000,
        )
        assert await catalog.list_groups() == [Group(name="apac", locations=("AS64500 Sydney",))]
