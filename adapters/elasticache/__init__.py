"""ElastiCache / Redis over redis.asyncio (``redis://``, ``rediss://``).

``services`` holds the cache, sessions, liveness, counters and cursors, ``jobs`` the job
queue; ``link`` the URL options, connection pool, timeouts, retries and error mapping they
share.
"""

from __future__ import annotations

from adapters.elasticache.jobs import RedisJobQueue
from adapters.elasticache.services import (
    RedisCache,
    RedisLivenessTracker,
    RedisRateCounters,
    RedisRotationCursors,
    RedisSessionStore,
    RedisSettings,
    open_backend,
    parse_redis_url,
)

__all__ = [
    "RedisCache",
    "RedisJobQueue",
    "RedisLivenessTracker",
    "RedisRateCounters",
    "RedisRotationCursors",
    "RedisSessionStore",
    "RedisSettings",
    "open_backend",
    "parse_redis_url",
]
