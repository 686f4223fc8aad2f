"""ElastiCache / Redis adapter (redis.asyncio): cache, sessions, liveness, counters, cursors,
and the job queue (:mod:`adapters.elasticache.jobs`).

URL: ``redis://[user:password@]host[:port][/db]?prefix={cloudperf}:&timeout_s=2&retries=2``;
``rediss://`` for TLS. Options: :class:`adapters.elasticache.link.RedisOptions`.

Every call goes through :class:`adapters.elasticache.link.RedisLink`: socket timeouts plus an
overall deadline, bounded retries with backoff (non-idempotent commands such as INCR only when
they cannot have reached the server), and driver errors mapped to ``CloudperfError``
subclasses (``BackendUnavailableError`` when transient). Every key starts with the prefix, and
no command touches more than one key outside it, so with a hash tag in the prefix (the
default) all of them stay in one cluster slot.

>>> cursors = await open_backend("redis://127.0.0.1:6379/0", "cursors")   # doctest: +SKIP
>>> await cursors.next("fra1", modulo=7)                                 # doctest: +SKIP
0

Open the ports once per process through ``cloudperf_core.bootstrap`` (a module global in a
Lambda handler) and keep them: the ports of one URL share one pool, which is reused across
invocations and made again transparently if the event loop changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from redis.asyncio import Redis

from adapters.elasticache.jobs import RedisJobQueue
from adapters.elasticache.link import RedisLink, RedisSettings, parse_redis_url
from cloudperf_core.backends import SharedResources
from cloudperf_core.clock import MINUTE_MS, SystemClock, minute_start_ms, ttl_to_ms
from cloudperf_core.errors import BackendConfigError, BackendError, InvalidSpecError
from cloudperf_core.models import Session
from cloudperf_core.ports import Clock

__all__ = [
    "RedisCache",
    "RedisLivenessTracker",
    "RedisRateCounters",
    "RedisRotationCursors",
    "RedisSessionStore",
    "RedisSettings",
    "open_backend",
    "parse_redis_url",
]


def _bytes(value: bytes | str) -> bytes:
    # The pool never decodes responses, so this is bytes; the driver's types say either.
    return value if isinstance(value, bytes) else value.encode()


class _Component:
    def __init__(self, link: RedisLink, *, owns_link: bool = False) -> None:
        self._link = link
        self._owns_link = owns_link

    async def close(self) -> None:
        """Close the pool if this object opened it (shared pools close with RedisServices)."""
        if self._owns_link:
            await self._link.aclose()


# --- ports ---------------------------------------------------------------------------------


class RedisCache(_Component):
    """The ``Cache`` port: byte values and integer counters under the URL's key prefix."""

    async def get(self, key: str) -> bytes | None:
        k = self._link.key("c", key)
        value = await self._link.call("GET", lambda r: r.get(k), idempotent=True)
        return None if value is None else _bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        k, v = self._link.key("c", key), bytes(value)
        if ttl_s is None:
            await self._link.call("SET", lambda r: r.set(k, v), idempotent=True)
        elif (ttl_ms := ttl_to_ms(ttl_s)) > 0:
            await self._link.call("SET", lambda r: r.set(k, v, px=ttl_ms), idempotent=True)
        else:
            await self._link.call("DEL", lambda r: r.delete(k), idempotent=True)

    async def delete(self, *keys: str) -> None:
        if keys:
            ks = [self._link.key("c", key) for key in keys]
            await self._link.call("DEL", lambda r: r.delete(*ks), idempotent=True)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        k = self._link.key("c", key)
        ttl_ms = None if ttl_s is None else max(1, ttl_to_ms(ttl_s))

        async def op(r: Redis) -> int:
            async with r.pipeline(transaction=True) as pipe:
                if ttl_ms is not None:
                    # Creating the key with its TTL first (NX) sets the TTL on creation only.
                    pipe.set(k, b"0", nx=True, px=ttl_ms)
                pipe.incrby(k, amount)
                results = await pipe.execute()
            return int(results[-1])

        return await self._link.call("INCRBY", op, idempotent=False)


class RedisSessionStore(_Component):
    """The ``SessionStore`` port: one key per token hash, expiring with the session."""

    def __init__(self, link: RedisLink, *, clock: Clock | None = None, owns_link: bool = False):
        super().__init__(link, owns_link=owns_link)
        self._clock: Clock = clock or SystemClock()

    async def create(self, token_hash: str, user: str, role: str, ttl_s: float) -> Session:
        ttl_ms = ttl_to_ms(ttl_s)
        session = Session.starting(token_hash, user, role, self._clock.now_ms(), ttl_ms)
        k, v = self._link.key("s", token_hash), msgspec.msgpack.encode(session)
        await self._link.call("SET", lambda r: r.set(k, v, px=ttl_ms), idempotent=True)
        return session

    async def get(self, token_hash: str) -> Session | None:
        k = self._link.key("s", token_hash)
        raw = await self._link.call("GET", lambda r: r.get(k), idempotent=True)
        if raw is None:
            return None
        try:
            session = msgspec.msgpack.decode(_bytes(raw), type=Session)
        except msgspec.DecodeError as exc:
            raise BackendError(f"corrupt session record under {k!r}") from exc
        return session if session.expires_at_ms > self._clock.now_ms() else None

    async def revoke(self, token_hash: str) -> None:
        k = self._link.key("s", token_hash)
        await self._link.call("DEL", lambda r: r.delete(k), idempotent=True)


class RedisLivenessTracker(_Component):
    """The ``LivenessTracker`` port: one sorted set, probe id scored by last-seen ms."""

    async def seen(self, probe_id: str, at_ms: int) -> None:
        k = self._link.key("live")
        # GT: an older sighting never moves a probe back (new probes are still added).
        await self._link.call(
            "ZADD", lambda r: r.zadd(k, {probe_id: at_ms}, gt=True), idempotent=True
        )

    async def last_seen(self, probe_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(probe_ids))
        if not ids:
            return {}
        k = self._link.key("live")
        scores: list[float | None] = await self._link.call(
            "ZMSCORE", lambda r: r.zmscore(k, ids), idempotent=True
        )
        return {pid: int(sc) for pid, sc in zip(ids, scores, strict=True) if sc is not None}

    async def alive_since(self, since_ms: int) -> list[str]:
        k = self._link.key("live")
        members: list[Any] = await self._link.call(
            "ZRANGEBYSCORE", lambda r: r.zrangebyscore(k, since_ms, "+inf"), idempotent=True
        )
        return sorted(_bytes(m).decode() for m in members)

    async def forget(self, before_ms: int) -> int:
        k = self._link.key("live")
        removed: int = await self._link.call(
            "ZREMRANGEBYSCORE",
            lambda r: r.zremrangebyscore(k, "-inf", f"({before_ms}"),
            idempotent=True,
        )
        return removed


# KEYS[1] counter hash; ARGV: minute field, amount, oldest minute kept, name TTL in ms.
# Pruning runs only when a new minute starts, so a hit costs O(1) most of the time.
_HIT_SCRIPT = """
local created = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
local count = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if created then
  local oldest = tonumber(ARGV[3])
  for _, minute in ipairs(redis.call('HKEYS', KEYS[1])) do
    if tonumber(minute) < oldest then redis.call('HDEL', KEYS[1], minute) end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return count
"""


class RedisRateCounters(_Component):
    """The ``RateCounters`` port: one hash per name, field = minute start in ms.

    Minutes more than ``horizon_s`` older than the newest minute hit are dropped, and a
    name nobody hit for ``horizon_s`` expires as a whole.
    """

    def __init__(self, link: RedisLink, *, horizon_s: float | None = None, owns_link: bool = False):
        super().__init__(link, owns_link=owns_link)
        self.horizon_ms = ttl_to_ms(
            horizon_s if horizon_s is not None else link.settings.options.horizon_s
        )
        if self.horizon_ms < MINUTE_MS:
            raise InvalidSpecError("the rate-counter horizon must be at least one minute")
        self._script: Any = None

    async def hit(self, name: str, at_ms: int, amount: int = 1) -> int:
        k = self._link.key("rate", name)
        minute_ms = minute_start_ms(at_ms)
        args = [minute_ms, amount, minute_ms - self.horizon_ms, self.horizon_ms]

        async def op(r: Redis) -> int:
            if self._script is None:
                self._script = r.register_script(_HIT_SCRIPT)
            return int(await self._script(keys=[k], args=args, client=r))

        return await self._link.call("HINCRBY", op, idempotent=False)

    async def per_minute(self, name: str, since_ms: int, until_ms: int) -> list[tuple[int, int]]:
        k = self._link.key("rate", name)
        raw = await self._link.call("HGETALL", lambda r: r.hgetall(k), idempotent=True)
        rows = ((int(m), int(c)) for m, c in raw.items())
        return sorted((m, c) for m, c in rows if since_ms <= m < until_ms and c)


class RedisRotationCursors(_Component):
    """The ``RotationCursors`` port: one hash, field per source, advanced with HINCRBY."""

    async def next(self, source: str, modulo: int) -> int:
        if modulo < 1:
            raise InvalidSpecError(f"modulo must be at least 1, not {modulo}")
        k = self._link.key("cursor")
        count: int = await self._link.call(
            "HINCRBY", lambda r: r.hincrby(k, source, 1), idempotent=False
        )
        return (count - 1) % modulo

    async def get(self, source: str) -> int:
        k = self._link.key("cursor")
        raw = await self._link.call("HGET", lambda r: r.hget(k, source), idempotent=True)
        return 0 if raw is None else int(raw)

    async def reset(self, source: str) -> None:
        k = self._link.key("cursor")
        await self._link.call("HDEL", lambda r: r.hdel(k, source), idempotent=True)


# --- wiring --------------------------------------------------------------------------------

_PORTS: dict[str, Callable[..., object]] = {
    "cache": RedisCache,
    "jobs": RedisJobQueue,
    "sessions": RedisSessionStore,
    "liveness": RedisLivenessTracker,
    "counters": RedisRateCounters,
    "cursors": RedisRotationCursors,
}


async def open_backend(url: str, port: str, *, shared: SharedResources | None = None) -> object:
    """Entry point for ``redis://`` and ``rediss://``: cache, sessions, liveness, counters,
    cursors, jobs. Connects lazily, so an unreachable server fails on first use.

    With ``shared`` (a composition root's) the ports of one URL share one pool, which
    ``shared`` closes; without it the port owns a pool of its own.
    """
    await anyio.lowlevel.checkpoint()
    settings = parse_redis_url(url)
    factory = _PORTS.get(port)
    if factory is None:
        raise BackendConfigError(
            f"redis serves {', '.join(_PORTS)}, not {port!r} ({settings.url_redacted})"
        )
    if shared is None:
        return factory(RedisLink(settings), owns_link=True)
    link = shared.get(("redis", url), lambda: RedisLink(settings), RedisLink.aclose)
    return factory(link)


if TYPE_CHECKING:  # mypy proves each adapter satisfies its port; nothing runs here
    from cloudperf_core.ports import (
        Cache,
        LivenessTracker,
        RateCounters,
        RotationCursors,
        SessionStore,
    )

    def _conforms(
        link: RedisLink,
    ) -> tuple[Cache, SessionStore, LivenessTracker, RateCounters, RotationCursors]:
        return (
            RedisCache(link),
            RedisSessionStore(link),
            RedisLivenessTracker(link),
            RedisRateCounters(link),
            RedisRotationCursors(link),
        )
