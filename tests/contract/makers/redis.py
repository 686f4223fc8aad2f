"""Redis makers (real server on 127.0.0.1:6379): each instance gets its own key prefix.

Every port is opened through the composition root (``cloudperf_core.bootstrap``). Keys under
the prefix are deleted afterwards (SCAN + DEL), so runs never clash and nothing else on the
server is touched (never FLUSHALL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from cloudperf_core.backends import PortName
from cloudperf_core.bootstrap import Config, Services
from tests.contract.makers import Maker, MakerContext
from tests.contract.makers.memory_extras import COUNTER_HORIZON_S

REDIS_URL = os.environ.get("CLOUDPERF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url(prefix: str, **options: str) -> str:
    """The test server's URL with a key prefix and extra query options."""
    query = "&".join([f"prefix={prefix}", *(f"{k}={v}" for k, v in options.items())])
    return f"{REDIS_URL}?{query}"


def fresh_prefix() -> str:
    return f"cptest:{uuid.uuid4().hex}:"


async def delete_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (and nothing else)."""
    client = Redis.from_url(REDIS_URL)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if batch:
            await client.delete(*batch)
    finally:
        await client.aclose()


def redis_services(**options: str) -> AbstractAsyncContextManager[Services]:
    """Services whose cache URL is the test server under a fresh prefix (deleted after)."""
    return redis_services_for("cache", **options)


@asynccontextmanager
async def redis_services_for(port: PortName, **options: str) -> AsyncIterator[Services]:
    """Services whose ``port`` URL (``cache`` or ``jobs``) is the test server under a fresh
    prefix (deleted after)."""
    prefix = fresh_prefix()
    url = redis_url(prefix, **options)
    config = (
        Config(store="memory://", jobs=url)
        if port == "jobs"
        else Config(store="memory://", cache=url)
    )
    try:
        async with Services(config) as services:
            yield services
    finally:
        await delete_prefix(prefix)


def _port(name: PortName) -> Maker:
    @asynccontextmanager
    async def make(ctx: MakerContext) -> AsyncIterator[Any]:
        options = {"horizon_s": str(COUNTER_HORIZON_S)} if name != "jobs" else {}
        async with redis_services_for(name, **options) as services:
            yield await services.port(name)

    maker: Callable[[MakerContext], AbstractAsyncContextManager[Any]] = make
    return Maker("redis", maker, needs_service=True)


CACHES = [_port("cache")]
SESSIONS = [_port("sessions")]
LIVENESS = [_port("liveness")]
COUNTERS = [_port("counters")]
CURSORS = [_port("cursors")]
JOB_QUEUES = [_port("jobs")]
