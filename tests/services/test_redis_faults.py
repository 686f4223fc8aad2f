"""Redis fault tests over real sockets: nothing listening, a server that never answers, a server
that answers the handshake and then goes silent, rejected credentials, and URL mistakes.

Each failing call must end on its own with a CloudperfError; ``anyio.fail_after`` is only a
guard against a hang, never a timing assertion.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from adapters.elasticache import open_backend
from adapters.elasticache.link import parse_redis_url
from cloudperf_core.backends import PortName, open_cache
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url

NO_HANG_S = 30  # a guard only: every failing call below ends on its own far sooner
FAST = "timeout_s=0.3&retries=2"
PASSWORD = "hunter2-s3cret"


def closed_port() -> int:
    """A loopback port with nothing listening (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeRedis:
    """A loopback TCP server speaking just enough RESP to misbehave on purpose.

    ``mode="silent"``: reads everything, never writes (a hung server or a black hole).
    ``mode="handshake-only"``: answers the connection handshake (CLIENT ..., PING), then
    never answers a real command. ``mode="wrongpass"``: rejects AUTH like Redis does.
    ``connections`` and ``commands`` record what clients sent.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.commands: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> FakeRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # the handler sees EOF and returns
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, options: str = FAST, password: str | None = None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0?{options}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                command = await self._read_command(reader)
                if command is None:
                    return
                self.commands.append(command[0].upper())
                reply = self._reply(command)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def _reply(self, command: list[str]) -> bytes | None:
        name = command[0].upper()
        if self.mode == "wrongpass" and name in ("AUTH", "HELLO"):
            return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        if self.mode in ("handshake-only", "wrongpass") and name == "CLIENT":
            return b"+OK\r\n"
        return None

    @staticmethod
    async def _read_command(reader: asyncio.StreamReader) -> list[str] | None:
        header = await reader.readline()
        if not header:
            return None
        assert header.startswith(b"*"), header
        parts = []
        for _ in range(int(header[1:])):
            size = int((await reader.readline())[1:])
            parts.append((await reader.readexactly(size + 2))[:-2].decode())
        return parts


def redis_services(url: str) -> Services:
    """Services whose cache URL (and so sessions, liveness, counters, cursors) is ``url``."""
    return Services(Config(store="memory://", cache=url))


@pytest.fixture
async def services_on_closed_port() -> AsyncIterator[Services]:
    url = f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0?{FAST}"
    async with redis_services(url) as services:
        yield services


def call(port: PortName, method: str, *args: Any, **kwargs: Any) -> Callable[[Services], Any]:
    async def run(services: Services) -> Any:
        return await getattr(await services.port(port), method)(*args, **kwargs)

    return run


CALLS: dict[str, Callable[[Services], Awaitable[Any]]] = {
    "cache.get": call("cache", "get", "k"),
    "cache.set": call("cache", "set", "k", b"v", ttl_s=5),
    "cache.incr": call("cache", "incr", "k"),
    "sessions.get": call("sessions", "get", "h"),
    "sessions.create": call("sessions", "create", "h", "u", "admin", ttl_s=5),
    "liveness.seen": call("liveness", "seen", "p", 1),
    "liveness.alive_since": call("liveness", "alive_since", 0),
    "counters.hit": call("counters", "hit", "n", 0),
    "counters.per_minute": call("counters", "per_minute", "n", 0, 60_000),
    "cursors.next": call("cursors", "next", "src", 3),
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
async def test_nothing_listening_is_backend_unavailable_without_leaking_the_password(
    services_on_closed_port: Services, call: str
) -> None:
    with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError) as info:
        await CALLS[call](services_on_closed_port)

    assert "127.0.0.1" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(services_on_closed_port.config)
    port = await services_on_closed_port.port(call.split(".")[0])  # type: ignore[arg-type]
    assert PASSWORD not in repr(port._link.settings)  # type: ignore[attr-defined]


async def test_entry_point_cache_on_a_closed_port_fails_cleanly() -> None:
    cache = await open_cache(f"redis://127.0.0.1:{closed_port()}/0?{FAST}")
    try:
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
            await cache.set("k", b"v")
    finally:
        await cache.close()


@pytest.mark.parametrize("call", ["cache.get", "cache.incr", "cursors.next", "counters.hit"])
async def test_server_that_never_answers_is_backend_unavailable(call: str) -> None:
    async with FakeRedis("silent") as server:
        async with redis_services(server.url()) as services:
            with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
                await CALLS[call](services)
        # The handshake never completed, so no command can have run: even INCR is retried.
        assert server.connections == 3


async def test_idempotent_read_is_retried_when_the_reply_never_comes() -> None:
    async with FakeRedis("handshake-only") as server, redis_services(server.url()) as services:
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
            await (await services.cache()).get("k")
    assert server.commands.count("GET") == 3  # first try + retries=2


@pytest.mark.parametrize("call", ["cache.incr", "cursors.next", "counters.hit"])
async def test_a_counter_is_not_sent_twice_when_the_reply_never_comes(call: str) -> None:
    async with FakeRedis("handshake-only") as server, redis_services(server.url()) as services:
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
            await CALLS[call](services)
    sent = [c for c in server.commands if c not in ("CLIENT", "PING")]
    # One attempt only: the first may have counted, a second would count twice.
    assert sent.count("MULTI") + sent.count("HINCRBY") + sent.count("EVALSHA") == 1


async def test_rejected_password_is_a_config_error_and_is_not_retried() -> None:
    async with (
        FakeRedis("wrongpass") as server,
        redis_services(server.url(password=PASSWORD)) as services,
    ):
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendConfigError) as info:
            await (await services.cache()).get("k")
    assert not isinstance(info.value, BackendUnavailableError)
    assert PASSWORD not in str(info.value)
    assert server.connections == 1


def test_one_services_object_serves_several_event_loops() -> None:
    # A Lambda container keeps its clients between invocations, each maybe a new loop.
    prefix = fresh_prefix()
    services = redis_services(redis_url(prefix))

    async def invocation(n: int) -> int:
        return await (await services.cursors()).next("fra", 100)

    try:
        assert [asyncio.run(invocation(n)) for n in range(3)] == [0, 1, 2]
    finally:
        asyncio.run(services.aclose())
        asyncio.run(delete_prefix(prefix))


# --- configuration mistakes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1/0?timeout_s=0",
        "redis://127.0.0.1/0?timeout_s=soon",
        "redis://127.0.0.1/0?retries=-1",
        "redis://127.0.0.1/0?horizon_s=nan",
        "redis://127.0.0.1/0?timeout_s=inf",
        "redis://127.0.0.1/0?timeout_s=1&timeout_s=2",
        "redis://[::1/0",
        "rediss://127.0.0.1/3?cluster=1",
        "rediss://127.0.0.1/0?cluster=1&prefix=plain:",
        "redis://127.0.0.1/zero",
        "redis://127.0.0.1/0?tiemout_s=2",
        "rediss://127.0.0.1/0?ssl_cert_reqs=maybe",
        f"redis://:{PASSWORD}@127.0.0.1:99999/0",
    ],
)
async def test_bad_urls_are_config_errors_naming_no_password(url: str) -> None:
    with pytest.raises(BackendConfigError) as info:
        await open_backend(url, "cache")
    assert PASSWORD not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("port", ["store", "catalog", "reports"])
async def test_redis_refuses_the_ports_it_does_not_serve(port: str) -> None:
    with pytest.raises(BackendConfigError):
        await open_backend("redis://127.0.0.1:6379/0", port)


def test_url_options_reach_the_settings() -> None:
    s = parse_redis_url(
        f"rediss://app:{PASSWORD}@cache.example:6380/3?prefix=cp:&timeout_s=1.5"
        "&connect_timeout_s=0.5&retries=4&ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem"
    )
    assert (s.host, s.port, s.db, s.username, s.password) == (
        "cache.example",
        6380,
        3,
        "app",
        PASSWORD,
    )
    o = s.options
    assert (s.tls, o.ssl_cert_reqs, o.ssl_ca_certs) == (True, "none", "/etc/ca.pem")
    assert (o.prefix, o.timeout_s, s.connect_timeout_s, o.retries) == ("cp:", 1.5, 0.5, 4)
    assert PASSWORD not in s.url_redacted
