"""mysql:// over TLS against a real MariaDB: a private server with TLS on (the shared one has
it off), a self-signed certificate made in the test, and a user the server only admits over
TLS, so a session that works is an encrypted one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncmy
import pytest

from adapters.aurora import AuroraMeasurementStore
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError
from cloudperf_core.models import ReportWindows, StatsQuery, WindowAggregate
from tests.support.certs import self_signed
from tests.support.private_mariadb import private_mariadb

pytestmark = pytest.mark.services

NO_HANG_S = 60  # a guard only
USER, PASSWORD, DATABASE = "tls_only", "tls-s3cret", "cloudperf_tls"


async def _prepare(port: int) -> None:
    conn = await asyncmy.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE {DATABASE}")
            await cur.execute(
                f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY %s REQUIRE SSL", (PASSWORD,)
            )
            await cur.execute(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1'")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, CA certificate) of a private TLS MariaDB with a REQUIRE SSL user."""
    folder = tmp_path_factory.mktemp("mariadb-tls")
    cert, key = self_signed(folder)
    with private_mariadb(folder, cert, key) as port:
        asyncio.run(_prepare(port))
        yield port, cert


def url(port: int, query: str) -> str:
    return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}?connect_timeout_s=5&{query}"


async def _session_tls_version(store: AuroraMeasurementStore) -> str:
    async def body(cur: asyncmy.cursors.Cursor) -> str:
        await cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        row = await cur.fetchone()
        return str(row[1]) if row else ""

    return await store.database.run("tls version", body, write=False)


async def test_with_the_ca_the_store_works_over_an_encrypted_session(
    server: tuple[int, Path],
) -> None:
    port, ca = server
    async with Services(Config(store=url(port, f"ssl_ca={ca}"))) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        with anyio.fail_after(NO_HANG_S):
            await store.migrate()
            row = WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=4)
            await store.ingest([ReportWindows(report_id="tls-1", windows=[row])])
            assert [w.sent for w in await store.fetch_windows(StatsQuery())] == [4]
            assert (await _session_tls_version(store)).startswith("TLSv1.")


async def test_without_tls_the_server_refuses_the_user(server: tuple[int, Path]) -> None:
    port, _ = server
    async with Services(Config(store=url(port, "max_attempts=1"))) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendConfigError) as info:
            await store.schema_version()
    assert PASSWORD not in str(info.value)


async def test_an_untrusted_certificate_is_a_config_error_not_a_retry(
    server: tuple[int, Path],
) -> None:
    port, _ = server
    # ssl=1 trusts the system's CAs only, and they never signed the test certificate.
    async with Services(Config(store=url(port, "ssl=1&max_attempts=4"))) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendConfigError) as info:
            await store.schema_version()
    assert not isinstance(info.value, BackendUnavailableError)
    assert "certificate" in str(info.value)
    assert "gave up" not in str(info.value)  # refused on the first attempt


async def test_verification_can_be_switched_off(server: tuple[int, Path]) -> None:
    port, _ = server
    async with Services(Config(store=url(port, "ssl=1&ssl_verify=0"))) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        with anyio.fail_after(NO_HANG_S):
            assert await store.schema_version() >= 0
            assert (await _session_tls_version(store)).startswith("TLSv1.")
