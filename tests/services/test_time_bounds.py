"""A server that accepts connections and never answers: every backend ends with a one-line
BackendUnavailableError, well within the bound the README documents for it.

The bound asserted is generous (3x the documented worst case) and only an upper one; the
point is that the time is bounded by the options the user set, not by a driver's default
(``mysql://...?connect_timeout_s=2`` used to take 121 s here: four 30 s read timeouts).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from adapters.aurora.config import AuroraConfig
from adapters.elasticache.link import parse_redis_url
from adapters.sqs import parse_sqs_url
from cloudperf_core.backends import PortName
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendUnavailableError

pytestmark = pytest.mark.services

PASSWORD = "never-sh0wn"
SLACK = 3.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose kernel accepts connections (backlog) that nobody ever answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def mysql_url(port: int) -> str:
    return (
        f"mysql://root:{PASSWORD}@127.0.0.1:{port}/db"
        "?connect_timeout_s=0.5&statement_timeout_s=30&max_attempts=2&backoff_s=0.05"
    )


def mysql_bound(url: str) -> float:
    # A server that never answers: every attempt ends at the connect timeout.
    o = AuroraConfig.from_url(url).options
    waits = sum(min(2.0, o.backoff_s * 2.0**i) for i in range(o.max_attempts - 1))
    return o.max_attempts * o.connect_timeout_s + waits


def redis_url(port: int) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{port}/0?timeout_s=0.3&retries=1"


def sqs_url(port: int) -> str:
    endpoint = f"http://127.0.0.1:{port}"
    return (
        f"sqs://q?endpoint_url={endpoint}&queue_url={endpoint}/123456789012/q&wait_s=0"
        "&connect_timeout_s=0.4&read_timeout_s=0.4&call_timeout_s=0.5&max_attempts=2"
    )


async def call(services: Services, port: PortName, method: str, *args: Any) -> Any:
    return await getattr(await services.port(port), method)(*args)


CASES: dict[str, tuple[Callable[[int], Config], Callable[[Services], Awaitable[Any]], Any]] = {
    "mysql query": (
        lambda p: Config(store=mysql_url(p)),
        lambda s: call(s, "store", "schema_version"),
        lambda p: mysql_bound(mysql_url(p)),
    ),
    "mysql migrate": (
        lambda p: Config(store=mysql_url(p)),
        lambda s: call(s, "store", "migrate"),
        lambda p: AuroraConfig.from_url(mysql_url(p)).options.connect_timeout_s,
    ),
    "redis get": (
        lambda p: Config(store="memory://", cache=redis_url(p)),
        lambda s: call(s, "cache", "get", "k"),
        lambda p: parse_redis_url(redis_url(p)).retry_policy.worst_case_s,
    ),
    "redis incr": (
        lambda p: Config(store="memory://", cache=redis_url(p)),
        lambda s: call(s, "counters", "hit", "n", 0),
        lambda p: parse_redis_url(redis_url(p)).retry_policy.worst_case_s,
    ),
    "sqs send": (
        lambda p: Config(store="memory://", reports=sqs_url(p)),
        lambda s: call(s, "reports", "send", [b"report"]),
        lambda p: parse_sqs_url(sqs_url(p))[1].retry_policy.worst_case_s,
    ),
    "sqs receive": (
        lambda p: Config(store="memory://", reports=sqs_url(p)),
        lambda s: call(s, "reports", "receive", 10, 30),
        lambda p: parse_sqs_url(sqs_url(p))[1].retry_policy.worst_case_s,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_silent_server_is_unavailable_within_the_documented_bound(
    silent_port: int, case: str
) -> None:
    make_config, operation, bound = CASES[case]
    bound_s = bound(silent_port)
    async with Services(make_config(silent_port)) as services:
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError) as info:
            await operation(services)
        elapsed_s = time.monotonic() - started
    message = str(info.value)
    assert "\n" not in message
    assert PASSWORD not in message
    assert "127.0.0.1" in message
    assert elapsed_s < SLACK * bound_s, f"{case}: {elapsed_s:.1f} s, documented {bound_s:.1f} s"
