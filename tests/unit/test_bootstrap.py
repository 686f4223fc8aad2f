"""The composition root: config from flags and environment, ports opened lazily or eagerly
through the registry, shared by memory://NAME, and closed once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from cloudperf_core import bootstrap
from cloudperf_core.backends import PORTS, SharedResources
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import Location
from cloudperf_core.errors import BackendConfigError, BackendError
from cloudperf_core.models import Job, ProbeSpec, ReportWindows, StatsQuery, WindowAggregate


def fresh() -> str:
    """A memory URL nobody else in this process uses."""
    return f"memory://{uuid.uuid4().hex}"


def job(job_id: str) -> Job:
    return Job(job_id=job_id, source="fra", spec=ProbeSpec(targets=("127.0.0.1",)))


# --- Config ----------------------------------------------------------------------------------


def test_flags_win_over_the_environment_which_wins_over_the_defaults() -> None:
    env = {
        "CLOUDPERF_STORE": "sqlite:///env.db",
        "CLOUDPERF_JOBS": "sqs://jobs",
        "CLOUDPERF_CACHE": "",  # empty counts as unset
        "CLOUDPERF_FPING": "/opt/fping",
    }
    config = Config.from_env(env, store="sqlite:///flag.db", reports=None)
    assert config.store == "sqlite:///flag.db"
    assert config.jobs == "sqs://jobs"
    assert config.reports == bootstrap.LOCAL_URL
    assert config.cache == bootstrap.LOCAL_URL
    assert config.fping_path == "/opt/fping"


def test_with_nothing_set_the_store_is_a_sqlite_file_in_the_user_data_dir() -> None:
    config = Config.from_env({})
    assert config.store.startswith("sqlite:///")
    assert Path(config.store.removeprefix("sqlite://")).name == "cloudperf.db"
    assert (config.jobs, config.reports, config.cache) == (bootstrap.LOCAL_URL,) * 3
    assert config.fping_path is None


def test_every_port_has_a_url_the_catalog_defaults_to_the_store() -> None:
    config = Config(store="mysql://db/x", jobs="sqs://j", reports="sqs://r", cache="redis://c")
    urls = {port: config.url_for(port) for port in PORTS}
    assert urls == {
        "store": "mysql://db/x",
        "catalog": "mysql://db/x",
        "jobs": "sqs://j",
        "reports": "sqs://r",
        "cache": "redis://c",
        "sessions": "redis://c",
        "liveness": "redis://c",
        "counters": "redis://c",
        "cursors": "redis://c",
    }
    assert Config(store="mysql://db/x", catalog="sqlite:///c.db").url_for("catalog") == (
        "sqlite:///c.db"
    )


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(BackendConfigError, match="stroe"):
        Config.from_env({}, stroe="sqlite:///x.db")


def test_the_config_never_shows_a_password() -> None:
    config = Config(store="mysql://app:s3cret@db/x", cache="rediss://:s3cret@cache:6379/0")
    assert "s3cret" not in repr(config)
    assert "s3cret" not in str(config)
    assert "mysql://app:***@db/x" in repr(config)


def test_nothing_but_bootstrap_reads_the_environment() -> None:
    root = Path(__file__).resolve().parents[2]
    readers = [
        str(path.relative_to(root))
        for folder in ("cloudperf_core", "adapters")
        for path in (root / folder).rglob("*.py")
        if "os.environ" in (text := path.read_text()) or "getenv" in text
    ]
    # The process executor passes the environment on to fping; it reads no setting from it.
    assert sorted(readers) == ["cloudperf_core/bootstrap.py", "cloudperf_core/fping/process.py"]


# --- Services --------------------------------------------------------------------------------


async def test_ports_open_on_first_use_and_stay_the_same_object(tmp_path: Path) -> None:
    config = Config(store=f"sqlite:///{tmp_path / 's.db'}", jobs=fresh(), cache=fresh())
    async with Services(config) as services:
        assert not services.opened
        jobs = await services.jobs()
        assert await services.jobs() is jobs
        assert services.opened == ("jobs",)
        store = await services.store()
        row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=3)
        await store.ingest([ReportWindows(report_id="r", windows=[row])])
        assert [w.sent for w in await store.fetch_windows(StatsQuery())] == [3]


async def test_open_opens_the_named_ports_now_and_a_bad_url_fails_there() -> None:
    services = Services(Config(store="memory://", cache=fresh()))
    await services.open("store", "cache", "cursors")
    assert services.opened == ("store", "cache", "cursors")
    await services.aclose()

    broken = Services(Config(store="memory://", jobs="nosuchscheme://x"))
    with pytest.raises(BackendConfigError, match="no backend for nosuchscheme://"):
        await broken.open("store", "jobs")
    await broken.aclose()


async def test_two_openers_of_one_memory_name_share_state() -> None:
    url = fresh()
    async with (
        Services(Config(store="memory://", jobs=url)) as server,
        Services(Config(store="memory://", jobs=url)) as worker,
    ):
        await (await server.jobs()).issue([job("j1")])
        leased = await (await worker.jobs()).lease("fra", 10, 30)
        assert [lease.job.job_id for lease in leased] == ["j1"]
    async with Services(Config(store="memory://", jobs=fresh())) as other:
        assert await (await other.jobs()).lease("fra", 10, 30) == []


async def test_a_catalogue_shared_by_name_and_one_on_the_store_url(tmp_path: Path) -> None:
    url = fresh()
    async with (
        Services(Config(store="memory://", catalog=url)) as admin,
        Services(Config(store="memory://", catalog=url)) as api,
    ):
        await (await admin.catalog()).put_locations([Location(name="lab", city="Lab")])
        found = await (await api.catalog()).get_location("lab")
        assert found is not None and found.city == "Lab"
    # No catalogue URL: the catalogue lives where the store does (one SQLite file here).
    store_url = f"sqlite:///{tmp_path / 'both.db'}"
    async with Services(Config(store=store_url)) as services:
        await (await services.catalog()).put_locations([Location(name="lab")])
    async with Services(Config(store=store_url, catalog=store_url)) as again:
        assert await (await again.catalog()).get_location("lab") is not None


async def test_plain_memory_urls_are_private() -> None:
    async with Services(Config(store="memory://")) as a, Services(Config(store="memory://")) as b:
        assert await a.store() is not await b.store()


class Port:
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_aclose_closes_each_distinct_object_once_then_the_shared_pools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = Port()  # served for two ports, as a backend may do
    other = Port()
    pool_closed: list[str] = []

    async def fake_open(url: str, port: str, shared: SharedResources) -> Any:
        async def close_pool(name: str) -> None:
            assert one.closed == 1 and other.closed == 1  # the ports close before their pool
            pool_closed.append(name)

        shared.get(("pool", url), lambda: url, close_pool)
        return other if port == "jobs" else one

    monkeypatch.setattr(bootstrap, "open_backend", fake_open)
    services = Services(Config(store="x://a", cache="x://a", jobs="x://b"))
    await services.open("store", "cache", "jobs")
    await services.aclose()
    await services.aclose()  # idempotent
    assert (one.closed, other.closed) == (1, 1)
    assert sorted(pool_closed) == ["x://a", "x://b"]
    with pytest.raises(BackendError, match="closed"):
        await services.store()


async def test_a_failing_close_does_not_keep_the_others_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Failing(Port):
        async def close(self) -> None:
            await super().close()
            raise BackendError("close failed")

    ports = {"store": Failing(), "cache": Port()}

    async def fake_open(url: str, port: str, shared: SharedResources) -> Any:
        return ports[port]

    monkeypatch.setattr(bootstrap, "open_backend", fake_open)
    services = await Services(Config(store="x://a", cache="x://b")).open("store", "cache")
    with pytest.raises(BackendError, match="close failed"):
        await services.aclose()
    assert ports["store"].closed == ports["cache"].closed == 1


def test_one_services_object_serves_successive_event_loops(tmp_path: Path) -> None:
    # A Lambda container keeps its Services between invocations, each maybe a new loop.
    services = Services(Config(store=f"sqlite:///{tmp_path / 's.db'}", jobs=fresh()))

    async def invocation(n: int) -> int:
        await (await services.jobs()).issue([job(f"j{n}")])
        row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=1)
        await (await services.store()).ingest([ReportWindows(report_id=f"r{n}", windows=[row])])
        return sum(w.sent for w in await (await services.store()).fetch_windows(StatsQuery()))

    try:
        assert [asyncio.run(invocation(n)) for n in range(3)] == [1, 2, 3]
    finally:
        asyncio.run(services.aclose())


# --- the store from a database secret (Lambda) -------------------------------------------------

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudperf-db-AbCdEf"


def test_a_secret_arn_without_a_store_url_leaves_the_store_pending() -> None:
    env = {"CLOUDPERF_DB_SECRET_ARN": SECRET_ARN, "CLOUDPERF_DB_NAME": "cloudperf"}
    config = Config.from_env(env)
    assert config.needs_db_secret
    with pytest.raises(BackendConfigError, match="comes from the database secret"):
        config.url_for("store")
    with pytest.raises(BackendConfigError, match="comes from the database secret"):
        config.url_for("catalog")
    # A store URL given as well wins: the secret is not needed.
    assert not Config.from_env({**env, "CLOUDPERF_STORE": "sqlite:///x.db"}).needs_db_secret


def test_the_store_url_is_built_from_the_secret_with_the_password_percent_encoded() -> None:
    config = Config.from_env(
        {
            "CLOUDPERF_DB_SECRET_ARN": SECRET_ARN,
            "CLOUDPERF_DB_NAME": "cloudperf",
            "CLOUDPERF_DB_OPTIONS": "pool_size=2&connect_timeout_s=5",
        }
    )
    secret = (
        '{"username": "admin", "password": "p@ss:w/rd?#%x", "engine": "mysql", '
        '"host": "db.cluster-x.eu-west-1.rds.amazonaws.com", "port": 3306, '
        '"dbClusterIdentifier": "cloudperf", "dbname": "other"}'
    )
    resolved = config.with_db_secret(secret)
    assert not resolved.needs_db_secret
    assert resolved.store == (
        "mysql://admin:p%40ss%3Aw%2Frd%3F%23%25x@db.cluster-x.eu-west-1.rds.amazonaws.com:3306/"
        "cloudperf?pool_size=2&connect_timeout_s=5"
    )
    assert resolved.url_for("catalog") == resolved.store
    assert "p%40ss" not in repr(resolved) and "p@ss" not in repr(resolved)
    # The adapter decodes it back to the same password.
    from adapters.aurora.config import AuroraConfig

    parsed = AuroraConfig.from_url(resolved.store)
    assert (parsed.password, parsed.database, parsed.options.pool_size) == (
        "p@ss:w/rd?#%x",
        "cloudperf",
        2,
    )


def test_without_a_database_name_the_secrets_dbname_is_used() -> None:
    config = Config.from_env({"CLOUDPERF_DB_SECRET_ARN": SECRET_ARN})
    resolved = config.with_db_secret('{"username":"u","password":"pw","host":"h","dbname":"d"}')
    assert resolved.store == "mysql://u:pw@h:3306/d"
    with pytest.raises(BackendConfigError, match="CLOUDPERF_DB_NAME"):
        config.with_db_secret('{"username":"u","password":"pw","host":"h"}')


@pytest.mark.parametrize(
    "text",
    ['{"username":"u","password":"hunter2-secret"}', "hunter2-secret", '{"password": 12}'],
)
def test_a_bad_secret_is_a_config_error_that_never_quotes_it(text: str) -> None:
    config = Config.from_env({"CLOUDPERF_DB_SECRET_ARN": SECRET_ARN, "CLOUDPERF_DB_NAME": "d"})
    with pytest.raises(BackendConfigError, match="not the JSON of a database secret") as caught:
        config.with_db_secret(text)
    assert "hunter2" not in str(caught.value)
    assert "12" not in str(caught.value).replace(SECRET_ARN, "")
