"""The worker's failure handling on real components: moto's SQS server with a redrive policy
(a dead-letter queue after MAX_RECEIVES receives) and a MariaDB store.

- an undecodable message ends in the dead-letter queue after the maximum receives, while the
  good reports of the same batches are stored once;
- a transient store failure (the ingesting connection KILLed before its COMMIT) fails the
  whole batch: every message goes back to the queue, nothing is stored; the retry stores
  each report exactly once;
- a store that stays down for every receive dead-letters the batch (nothing is dropped), and
  the dead letters, sent again once the store is back, are stored once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncmy
import pytest

from adapters.aurora import AuroraMeasurementStore, open_backend
from adapters.memory import InMemoryMeasurementStore
from adapters.sqs import SqsReportQueue
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import encode_report, ingest_reports, process_report_batch
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, temp_database
from tests.contract.makers.sqs import MAX_RECEIVES, sqs_queues
from tests.services.test_sqs_faults import queue_depth
from tests.support.mysql_spy import before_commit

N_REPORTS = 8  # fits one receive (10 messages) with the poison pill


def reports(n: int = N_REPORTS) -> list[MeasurementReport]:
    out = []
    for i in range(n):
        targets = tuple(f"127.0.0.{t + 1}" for t in range(3))
        results = [
            TargetResult(target=t, sent=4, received=3, rtts_us=[1000 + i, None, 1200 + k, 1100])
            for k, t in enumerate(targets)
        ]
        out.append(
            MeasurementReport(
                report_id=f"w-{i:03d}",
                source=f"probe-{i % 2}",
                started_at_ms=1_700_000_000_000 + i * 10_000,
                spec=ProbeSpec(targets=targets, count=4),
                results=results,
            )
        )
    return out


async def one_copy(items: list[MeasurementReport]) -> list[object]:
    """The windows of exactly one ingest of ``items`` (in memory, as the reference)."""
    memory = InMemoryMeasurementStore()
    await ingest_reports(memory, items)
    return list(await memory.fetch_windows(StatsQuery()))


@pytest.fixture
async def queue() -> AsyncIterator[SqsReportQueue]:
    async with sqs_queues("reports") as q:
        yield q


@pytest.fixture
async def mysql() -> AsyncIterator[tuple[str, AuroraMeasurementStore, asyncmy.Connection]]:
    """A fresh database, a store on it, and a second connection (to look and to KILL)."""
    async with temp_database() as (url, store):
        conn = await asyncmy.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
        try:
            await store.fetch_windows(StatsQuery())  # the schema check commits: done first
            yield url, store, conn
        finally:
            conn.close()


async def stored_ids(conn: asyncmy.Connection, url: str) -> list[str]:
    db = url.rsplit("/", 1)[1].split("?", 1)[0]
    async with conn.cursor() as cur:
        # The name is the test's own generated database (hex digits): not from input.
        await cur.execute(f"SELECT report_id FROM `{db}`.ingested_reports ORDER BY report_id")
        return [str(r[0]) for r in await cur.fetchall()]


async def test_an_undecodable_message_dead_letters_after_max_receives_on_mariadb(
    queue: SqsReportQueue, mysql: tuple[str, AuroraMeasurementStore, asyncmy.Connection]
) -> None:
    url, store, conn = mysql
    good = reports()
    poison = b'{"report_id": "w-999", "source": "probe-0", "spec": 42}'
    await queue.send([poison, *map(encode_report, good)])

    failed_per_pass = []
    for _ in range(MAX_RECEIVES + 1):  # the last pass finds the poison redriven already
        result = await process_report_batch(queue, store, visibility_s=30)
        failed_per_pass.append(len(result.failed))

    assert failed_per_pass == [1] * MAX_RECEIVES + [0]
    assert [m.body for m in await queue.dead_letters(10)] == [poison]
    assert await queue_depth(queue) == 0
    assert await stored_ids(conn, url) == [r.report_id for r in good]  # once each
    assert await store.fetch_windows(StatsQuery()) == await one_copy(good)


async def test_a_transient_store_error_fails_the_batch_and_the_retry_stores_it_once(
    queue: SqsReportQueue,
    mysql: tuple[str, AuroraMeasurementStore, asyncmy.Connection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _, conn = mysql
    good = reports()
    await queue.send([encode_report(r) for r in good])
    # No retry inside the adapter: the KILL reaches the worker as BackendUnavailableError.
    store = await open_backend(url.replace("backoff_s", "max_attempts=1&backoff_s"), "store")
    assert isinstance(store, AuroraMeasurementStore)
    try:
        await store.fetch_windows(StatsQuery())

        async def kill(conn_id: int) -> None:
            async with conn.cursor() as cur:
                await cur.execute("KILL %s", (conn_id,))

        before_commit(monkeypatch, kill)
        with pytest.raises(BackendUnavailableError):
            await process_report_batch(queue, store, visibility_s=30)
        monkeypatch.undo()

        assert await stored_ids(conn, url) == []  # the failed batch left nothing behind
        assert await queue_depth(queue) == N_REPORTS  # ... and every message is back
        retry = await process_report_batch(queue, store, visibility_s=30)
    finally:
        await store.close()

    assert sorted(retry.ingested) == [r.report_id for r in good]
    assert retry.failed == {} and retry.duplicates == []
    assert await queue_depth(queue) == 0
    assert await queue.dead_letters(10) == []
    assert await stored_ids(conn, url) == [r.report_id for r in good]
    assert await store.fetch_windows(StatsQuery()) == await one_copy(good)


async def test_a_store_down_for_every_receive_dead_letters_the_batch_and_nothing_is_lost(
    queue: SqsReportQueue,
    mysql: tuple[str, AuroraMeasurementStore, asyncmy.Connection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, store, conn = mysql
    good = reports()
    await queue.send([encode_report(r) for r in good])
    no_retry = await open_backend(url.replace("backoff_s", "max_attempts=1&backoff_s"), "store")
    assert isinstance(no_retry, AuroraMeasurementStore)
    try:
        await no_retry.fetch_windows(StatsQuery())

        async def kill(conn_id: int) -> None:
            async with conn.cursor() as cur:
                await cur.execute("KILL %s", (conn_id,))

        before_commit(monkeypatch, kill)
        for _ in range(MAX_RECEIVES):
            with pytest.raises(BackendUnavailableError):
                await process_report_batch(queue, no_retry, visibility_s=30)
        monkeypatch.undo()
    finally:
        await no_retry.close()
    assert (await process_report_batch(queue, store)).received == 0  # all redriven
    dead = await queue.dead_letters(10)
    assert sorted(m.body for m in dead) == sorted(encode_report(r) for r in good)
    assert await stored_ids(conn, url) == []

    # The operator's redrive: the dead letters go back to the main queue, stored once.
    await queue.send([m.body for m in dead])
    again = await process_report_batch(queue, store, visibility_s=30)
    assert sorted(again.ingested) == [r.report_id for r in good]
    assert await stored_ids(conn, url) == [r.report_id for r in good]
    assert await store.fetch_windows(StatsQuery()) == await one_copy(good)
