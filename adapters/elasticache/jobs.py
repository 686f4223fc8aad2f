"""The ``JobQueue`` port on Redis / ElastiCache: per-source ready lists, atomic leases.

Keys (under the URL's prefix, whose hash tag puts them all in one cluster slot), with
``S`` = the first 128 bits of the SHA-256 of the source name, in hex (any name, of any
length, gives a short key):

- ``jq:S:ready``  list of job ids, oldest first (a lapsed lease's job goes back to the front)
- ``jq:S:leased`` sorted set, lease id -> expiry in ms (server time)
- ``jq:S:lease``  hash, lease id -> job id
- ``jq:body``     hash, job id -> the job (msgpack), present while the job is ready or leased
- ``jq:dlv``      hash, job id -> deliveries so far
- ``jq:sources``  set of the ``S`` that may hold jobs (what ``reap`` walks)

Every state change is one Lua script (registered once, run with EVALSHA), so two probes
leasing at once never get the same job, and a crash between two commands cannot lose or
duplicate one. Expiry uses the Redis server's clock (``TIME``), so API instances with skewed
clocks agree. A lease id names its source (``S.<random hex>``, 65 characters), so ack and
extend declare every key they touch, as cluster mode wants.

Retries: ``issue`` (deduplicated by job id), ``extend`` (sets an absolute expiry), ``depth``
and ``reap`` are retried after a transient failure; ``lease`` and ``ack`` only when they
cannot have reached the server (a lease retried after it ran would hide jobs nobody holds).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from redis.asyncio import Redis

from adapters.elasticache.link import RedisLink
from cloudperf_core.clock import ttl_to_ms
from cloudperf_core.errors import BackendError, InvalidSpecError, NotFoundError
from cloudperf_core.models import AnyJob, LeasedJob

__all__ = ["DEFAULT_MAX_DELIVERIES", "RedisJobQueue"]

log = logging.getLogger(__name__)
DEFAULT_MAX_DELIVERIES = 5
_ISSUE_BATCH = 500  # jobs per ISSUE script call (bounds one script's run time and size)
_LEASE_RE = re.compile(r"^([0-9a-f]{32})\.[0-9a-f]{32}$")

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: ready, leased, lease, body, dlv. Moves every lapsed lease of the source back to the
# front of its ready list (earliest lapsed first), or drops a job at its maximum deliveries.
_RETURN_LAPSED = """
local function return_lapsed(now, max_dlv)
  local back, dropped = {}, {}
  for _, lid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
    local job = redis.call('HGET', KEYS[3], lid)
    redis.call('ZREM', KEYS[2], lid)
    redis.call('HDEL', KEYS[3], lid)
    if job and redis.call('HEXISTS', KEYS[4], job) == 1 then
      if tonumber(redis.call('HGET', KEYS[5], job) or '0') >= max_dlv then
        redis.call('HDEL', KEYS[4], job)
        redis.call('HDEL', KEYS[5], job)
        dropped[#dropped + 1] = job
      else
        back[#back + 1] = job
      end
    end
  end
  for i = #back, 1, -1 do redis.call('LPUSH', KEYS[1], back[i]) end
  return #back, dropped
end
"""

# KEYS: body, dlv, sources, then one ready list per job; ARGV: (job id, body, S) per job.
_ISSUE = """
local queued = 0
for i = 1, #KEYS - 3 do
  local job = ARGV[3 * i - 2]
  if redis.call('HSETNX', KEYS[1], job, ARGV[3 * i - 1]) == 1 then
    redis.call('HSET', KEYS[2], job, 0)
    redis.call('RPUSH', KEYS[3 + i], job)
    redis.call('SADD', KEYS[3], ARGV[3 * i])
    queued = queued + 1
  end
end
return queued
"""

# KEYS: ready, leased, lease, body, dlv; ARGV: lease ms, max deliveries, lease id per job.
_LEASE = (
    _NOW
    + _RETURN_LAPSED
    + """
local now = now_ms()
local _, dropped = return_lapsed(now, tonumber(ARGV[2]))
local expires = now + tonumber(ARGV[1])
local out = {}
local next_id = 3
while next_id <= #ARGV do
  local job = redis.call('LPOP', KEYS[1])
  if not job then break end
  local body = redis.call('HGET', KEYS[4], job)
  if body then
    local lid = ARGV[next_id]
    next_id = next_id + 1
    local dlv = redis.call('HINCRBY', KEYS[5], job, 1)
    redis.call('HSET', KEYS[3], lid, job)
    redis.call('ZADD', KEYS[2], expires, lid)
    out[#out + 1] = lid
    out[#out + 1] = body
    out[#out + 1] = dlv
  end
end
return {expires, dropped, out}
"""
)

# KEYS: ready, leased, lease, body, dlv, sources; ARGV: max deliveries, S.
_REAP = (
    _NOW
    + _RETURN_LAPSED
    + """
local back, dropped = return_lapsed(now_ms(), tonumber(ARGV[1]))
if redis.call('LLEN', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[6], ARGV[2])
end
return {back, dropped}
"""
)

# KEYS: leased; ARGV: lease id, lease ms. 0 if the lease is unknown or has lapsed.
_EXTEND = (
    _NOW
    + """
local now = now_ms()
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: leased, lease, body, dlv; ARGV: lease id. 0 if the lease is unknown or has lapsed.
_ACK = (
    _NOW
    + """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now_ms() then return 0 end
local job = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if job then
  redis.call('HDEL', KEYS[3], job)
  redis.call('HDEL', KEYS[4], job)
end
return 1
"""
)


def _token(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisJobQueue:
    """The ``JobQueue`` port on Redis (see the module doc for keys and atomicity)."""

    def __init__(
        self,
        link: RedisLink,
        *,
        max_deliveries: int | None = None,
        owns_link: bool = False,
    ) -> None:
        self._link = link
        self._owns_link = owns_link
        self._max_deliveries = max_deliveries or link.settings.options.max_deliveries
        if self._max_deliveries < 1:
            raise InvalidSpecError(f"max_deliveries must be >= 1, not {self._max_deliveries}")
        self._scripts: dict[str, Any] = {}
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(AnyJob)

    # --- keys and scripts ------------------------------------------------------------------

    def _keys(self, token: str) -> list[str]:
        """ready, leased, lease, body, dlv of the source whose token is ``token``."""
        k = self._link.key
        per_source = [k("jq", token, part) for part in ("ready", "leased", "lease")]
        return [*per_source, k("jq", "body"), k("jq", "dlv")]

    async def _run(self, what: str, keys: list[str], args: list[Any], *, idempotent: bool) -> Any:
        async def op(r: Redis) -> Any:
            script = self._scripts.get(what)
            if script is None:
                script = self._scripts[what] = r.register_script(_SCRIPTS[what])
            return await script(keys=keys, args=args, client=r)

        return await self._link.call(f"job {what}", op, idempotent=idempotent)

    def _lease_parts(self, lease_id: str) -> tuple[str, str]:
        match = _LEASE_RE.match(lease_id)
        if match is None:
            raise NotFoundError(f"lease {lease_id[:80]!r} is unknown or has lapsed")
        return match.group(1), lease_id

    def _decode(self, body: bytes | str) -> AnyJob:
        raw = body if isinstance(body, bytes) else body.encode()
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise BackendError("corrupt job body in the redis job queue") from exc

    def _log_dropped(self, dropped: Sequence[bytes | str]) -> None:
        for job_id in dropped:
            log.warning("dropping job %s after %d deliveries", _text(job_id), self._max_deliveries)

    # --- the port --------------------------------------------------------------------------

    async def issue(self, jobs: Sequence[AnyJob]) -> int:
        queued = 0
        for start in range(0, len(jobs), _ISSUE_BATCH):
            batch = jobs[start : start + _ISSUE_BATCH]
            tokens = [_token(job.source) for job in batch]
            k = self._link.key
            keys = [k("jq", "body"), k("jq", "dlv"), k("jq", "sources")]
            keys += [k("jq", t, "ready") for t in tokens]
            args: list[Any] = []
            for job, token in zip(batch, tokens, strict=True):
                args += [job.job_id, self._encoder.encode(job), token]
            # A retry after the script ran queues nothing twice (job ids are checked first).
            queued += int(await self._run("issue", keys, args, idempotent=True))
        return queued

    async def lease(self, source: str, max_jobs: int, lease_s: float) -> list[LeasedJob]:
        if max_jobs < 1:
            return []
        lease_ms = max(1, ttl_to_ms(lease_s))
        token = _token(source)
        lease_ids = [f"{token}.{uuid.uuid4().hex}" for _ in range(max_jobs)]
        args = [lease_ms, self._max_deliveries, *lease_ids]
        expires, dropped, flat = await self._run("lease", self._keys(token), args, idempotent=False)
        self._log_dropped(dropped)
        return [
            LeasedJob(
                job=self._decode(flat[i + 1]),
                lease_id=_text(flat[i]),
                lease_expires_at_ms=int(expires),
                deliveries=int(flat[i + 2]),
            )
            for i in range(0, len(flat), 3)
        ]

    async def extend(self, lease_id: str, lease_s: float) -> None:
        token, lid = self._lease_parts(lease_id)
        lease_ms = max(1, ttl_to_ms(lease_s))
        keys = self._keys(token)[1:2]
        if not int(await self._run("extend", keys, [lid, lease_ms], idempotent=True)):
            raise NotFoundError(f"lease {lease_id!r} is unknown or has lapsed")

    async def ack(self, lease_id: str) -> None:
        token, lid = self._lease_parts(lease_id)
        keys = self._keys(token)[1:]
        if not int(await self._run("ack", keys, [lid], idempotent=False)):
            raise NotFoundError(f"lease {lease_id!r} is unknown or has lapsed")

    async def depth(self, source: str) -> int:
        ready, leased = self._keys(_token(source))[:2]

        async def op(r: Redis) -> int:
            async with r.pipeline(transaction=True) as pipe:
                pipe.llen(ready)
                pipe.zcard(leased)
                n_ready, n_leased = await pipe.execute()
            return int(n_ready) + int(n_leased)

        return await self._link.call("job depth", op, idempotent=True)

    async def reap(self) -> int:
        sources_key = self._link.key("jq", "sources")
        tokens = await self._link.call(
            "job sources", lambda r: r.smembers(sources_key), idempotent=True
        )
        returned = 0
        for raw in sorted(_text(t) for t in tokens):
            keys = [*self._keys(raw), sources_key]
            back, dropped = await self._run(
                "reap", keys, [self._max_deliveries, raw], idempotent=True
            )
            self._log_dropped(dropped)
            returned += int(back)
        return returned

    async def close(self) -> None:
        if self._owns_link:
            await self._link.aclose()


_SCRIPTS = {
    "issue": _ISSUE,
    "lease": _LEASE,
    "reap": _REAP,
    "extend": _EXTEND,
    "ack": _ACK,
}


if TYPE_CHECKING:
    from cloudperf_core.ports import JobQueue

    def _conforms(link: RedisLink) -> JobQueue:
        return RedisJobQueue(link)
