"""ElastiCache Serverless (cluster mode) refuses a command or transaction whose keys live in
different hash slots (CROSSSLOT). Every command the Redis ports send is recorded as it goes
onto the wire; the server names each one's keys (COMMAND GETKEYS); all keys of one command or
one MULTI/EXEC must be under the prefix and share one slot."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis import exceptions as rx
from redis.asyncio import Redis
from redis.crc import key_slot

from adapters.elasticache import link
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.models import Job, ProbeSpec
from tests.contract.makers.redis import REDIS_URL, delete_prefix, redis_url

pytestmark = pytest.mark.services

Unit = list[tuple[Any, ...]]  # the commands of one write: one command, or a whole pipeline


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Unit]]:
    """Every command the adapter's connections pack, grouped by what was sent together."""
    sent: list[Unit] = []
    batch: Unit | None = None
    pack_command = link._TcpConnection.pack_command
    pack_commands = link._TcpConnection.pack_commands

    def one(self: Any, *args: Any) -> Any:
        if batch is None:
            sent.append([args])
        else:
            batch.append(args)
        return pack_command(self, *args)

    def many(self: Any, commands: Any) -> Any:
        nonlocal batch
        batch = []
        try:
            return pack_commands(self, commands)
        finally:
            sent.append(batch)
            batch = None

    monkeypatch.setattr(link._TcpConnection, "pack_command", one)
    monkeypatch.setattr(link._TcpConnection, "pack_commands", many)
    yield sent


async def keys_of(server: Redis, command: tuple[Any, ...]) -> list[bytes]:
    if str(command[0]).upper() in ("MULTI", "EXEC"):
        return []
    try:
        keys = await server.command_getkeys(*command)
    except rx.ResponseError:  # "no key arguments"
        return []
    return [k if isinstance(k, bytes) else str(k).encode() for k in keys]


async def test_every_command_and_transaction_stays_in_one_slot(wire: list[Unit]) -> None:
    prefix = f"{{cptest-{uuid.uuid4().hex}}}:"
    url = redis_url(prefix)
    async with Services(Config(store="memory://", cache=url, jobs=url)) as services:
        cache = await services.cache()
        await cache.set("a", b"1")
        await cache.set("b", b"2", ttl_s=60)
        await cache.incr("n", 2, ttl_s=60)
        await cache.get("a")
        await cache.delete("a", "b", "n")
        sessions = await services.sessions()
        await sessions.create("h", "ann", "admin", ttl_s=60)
        await sessions.get("h")
        await sessions.revoke("h")
        liveness = await services.liveness()
        await liveness.seen("p1", 1_000)
        await liveness.last_seen(["p1", "p2"])
        await liveness.alive_since(0)
        await liveness.forget(500)
        counters = await services.counters()
        await counters.hit("polls", 60_000)
        await counters.hit("polls", 120_000)
        await counters.per_minute("polls", 0, 180_000)
        cursors = await services.cursors()
        await cursors.next("fra", 3)
        await cursors.get("fra")
        await cursors.reset("fra")
        jobs = await services.jobs()
        spec = ProbeSpec(targets=("127.0.0.1",), count=1)
        await jobs.issue([Job(job_id=f"j{n}", source=f"src {n % 2}", spec=spec) for n in range(4)])
        held = await jobs.lease("src 0", 2, 30)
        await jobs.extend(held[0].lease_id, 60)
        await jobs.ack(held[1].lease_id)
        await jobs.depth("src 1")
        await jobs.reap()

    server = Redis.from_url(REDIS_URL)
    try:
        touched: list[list[bytes]] = []
        for unit in wire:
            keys = [key for command in unit for key in await keys_of(server, command)]
            if keys:
                touched.append(keys)
    finally:
        await server.aclose()
        await delete_prefix(prefix)

    assert any(len(keys) > 1 for keys in touched), "no multi-key command was exercised"
    for keys in touched:
        assert all(k.startswith(prefix.encode()) for k in keys), keys
        assert len({key_slot(k) for k in keys}) == 1, keys
