"""Redis makers (real server on 127.0.0.1:6379): each instance gets its own key prefix.

Keys under the prefix are deleted afterwards (SCAN + DEL), so runs never clash and nothing
else on the server is touched (never FLUSHALL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from adapters.elasticache import RedisServices, open_backend, open_redis_services
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


@asynccontextmanager
async def _cache(ctx: MakerContext) -> AsyncIterator[Any]:
    prefix = fresh_prefix()
    backend: Any = await open_backend(redis_url(prefix), "cache")
    try:
        yield backend
    finally:
        await backend.close()
        await delete_prefix(prefix)


def _service(pick: Callable[[RedisServices], Any]) -> Maker:
    @asynccontextmanager
    async def make(ctx: MakerContext) -> AsyncIterator[Any]:
        prefix = fresh_prefix()
        services = await open_redis_services(redis_url(prefix), horizon_s=COUNTER_HORIZON_S)
        try:
            yield pick(services)
        finally:
            await services.close()
            await delete_prefix(prefix)

    maker: Callable[[MakerContext], AbstractAsyncContextManager[Any]] = make
    return Maker("redis", maker)


CACHES = [Maker("redis", _cache)]
SESSIONS = [_service(lambda s: s.sessions)]
LIVENESS = [_service(lambda s: s.liveness)]
COUNTERS = [_service(lambda s: s.counters)]
CURSORS = [_service(lambda s: s.cursors)]
