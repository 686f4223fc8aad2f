"""One Services object (and so one adapter object) used from successive event loops, as a
Lambda container that keeps its globals between invocations may do: real MariaDB, Redis and
the SQS emulator, each through the same mechanism (adapters._loop.LoopBound)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from adapters.aurora import AuroraMeasurementStore
from adapters.sqs import SqsReportQueue, delete_queues
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.models import ReportWindows, StatsQuery, WindowAggregate
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, _admin
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url
from tests.contract.makers.sqs import sqs_url
from tests.support.moto import unique_name

pytestmark = pytest.mark.services


def row(sent: int) -> WindowAggregate:
    return WindowAggregate(source="s", target="t", window_start_s=0, window_s=60, sent=sent)


def test_the_mysql_store_works_in_each_new_loop() -> None:
    name = f"cloudperf_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    services = Services(Config(store=f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"))

    async def invocation(n: int) -> int:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        if n == 0:
            await store.migrate()
        await store.ingest([ReportWindows(report_id=f"r{n}", windows=[row(n + 1)])])
        return sum(w.sent for w in await store.fetch_windows(StatsQuery()))

    try:
        assert [asyncio.run(invocation(n)) for n in range(3)] == [1, 3, 6]
    finally:
        asyncio.run(services.aclose())
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS `{name}`"))


def test_the_redis_ports_work_in_each_new_loop() -> None:
    prefix = fresh_prefix()
    services = Services(Config(store="memory://", cache=redis_url(prefix)))

    async def invocation(n: int) -> tuple[int, bytes | None]:
        cache = await services.cache()
        previous = await cache.get("last")
        await cache.set("last", str(n).encode())
        return await (await services.cursors()).next("fra", 100), previous

    try:
        assert [asyncio.run(invocation(n)) for n in range(3)] == [(0, None), (1, b"0"), (2, b"1")]
    finally:
        asyncio.run(services.aclose())
        asyncio.run(delete_prefix(prefix))


def test_the_sqs_queue_works_in_each_new_loop() -> None:
    name = unique_name("cloudperf-loops")
    services = Services(Config(store="memory://", reports=sqs_url(name, create=True)))

    async def send(body: bytes) -> None:
        await (await services.reports()).send([body])

    async def receive_all() -> list[bytes]:
        queue = await services.reports()
        got = await queue.receive(10, 30)
        await queue.ack([m.receipt for m in got])
        return sorted(m.body for m in got)

    async def cleanup() -> None:
        queue = await services.reports()
        assert isinstance(queue, SqsReportQueue)
        await delete_queues(queue.connection, queue.queue_url)
        await services.aclose()

    try:
        asyncio.run(send(b"first loop"))
        asyncio.run(send(b"second loop"))
        assert asyncio.run(receive_all()) == [b"first loop", b"second loop"]
    finally:
        asyncio.run(cleanup())
