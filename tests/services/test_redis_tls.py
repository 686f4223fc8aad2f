"""rediss:// end to end: a TLS-terminating proxy (self-signed certificate, made with the
openssl CLI) in front of the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError
from tests.contract.makers.redis import delete_prefix, fresh_prefix
from tests.support.certs import self_signed

NO_HANG_S = 30  # a guard only


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_port(certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    """A loopback TLS port forwarding to Redis."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    tasks: set[asyncio.Future[tuple[None, None]]] = set()

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", 6379)
        both = asyncio.gather(_pipe(client_r, redis_w), _pipe(redis_r, client_w))
        tasks.add(both)
        await both

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.wait_closed()


def redis_services(url: str) -> Services:
    return Services(Config(store="memory://", cache=url))


async def test_rediss_with_the_right_ca_round_trips(
    tls_port: int, certificate: tuple[Path, Path]
) -> None:
    prefix = fresh_prefix()
    url = f"rediss://127.0.0.1:{tls_port}/0?prefix={prefix}&ssl_ca_certs={certificate[0]}"
    try:
        async with redis_services(url) as services:
            cache = await services.cache()
            await cache.set("k", b"over tls", ttl_s=30)
            assert await cache.get("k") == b"over tls"
            assert await (await services.cursors()).next("fra", 2) == 0
    finally:
        await delete_prefix(prefix)


async def test_an_untrusted_certificate_is_a_config_error(tls_port: int) -> None:
    async with redis_services(f"rediss://127.0.0.1:{tls_port}/0?timeout_s=2") as services:
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendConfigError) as info:
            await (await services.cache()).get("k")
    assert not isinstance(info.value, BackendUnavailableError)
    assert "certificate" in str(info.value).lower()


async def test_verification_can_be_switched_off(tls_port: int) -> None:
    prefix = fresh_prefix()
    url = f"rediss://127.0.0.1:{tls_port}/0?prefix={prefix}&ssl_cert_reqs=none"
    try:
        async with redis_services(url) as services:
            cache = await services.cache()
            await cache.set("k", b"v")
            assert await cache.get("k") == b"v"
    finally:
        await delete_prefix(prefix)
