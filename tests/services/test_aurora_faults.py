"""Fault tests: the ingesting connection is KILLed mid-transaction from a second connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncmy
import pytest

from adapters.aurora import AuroraMeasurementStore, open_backend
from adapters.memory import InMemoryMeasurementStore
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import ingest_reports
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, temp_database
from tests.support.mysql_spy import before_commit

N_REPORTS = 200
N_TARGETS = 50


def _reports() -> list[MeasurementReport]:
    out = []
    for i in range(N_REPORTS):
        results = [
            TargetResult(
                target=f"192.0.2.{t}",
                sent=4,
                received=3,
                duplicates=i % 2,
                rtts_us=[1000 + i * 10 + t, None, 2000 + t, 3000 + i],
            )
            for t in range(N_TARGETS)
        ]
        out.append(
            MeasurementReport(
                report_id=f"fault-{i:04d}",
                source=f"probe-{i % 3}",
                started_at_ms=1_700_000_000_000 + i * 7_000,
                spec=ProbeSpec(targets=tuple(r.target for r in results), count=4),
                results=results,
            )
        )
    return out


@pytest.fixture
async def killer() -> AsyncIterator[asyncmy.Connection]:
    conn = await asyncmy.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
    yield conn
    conn.close()


async def _visible(killer: asyncmy.Connection, db: str) -> tuple[int, int]:
    async with killer.cursor() as cur:
        await cur.execute(f"SELECT COUNT(*) FROM `{db}`.measurements")
        (windows,) = await cur.fetchone()
        await cur.execute(f"SELECT COUNT(*) FROM `{db}`.ingested_reports")
        (ids,) = await cur.fetchone()
    return int(windows), int(ids)


async def _one_copy(reports: list[MeasurementReport]) -> list[object]:
    memory = InMemoryMeasurementStore()
    await ingest_reports(memory, reports)
    return list(await memory.fetch_windows(StatsQuery()))


async def test_a_killed_ingest_commits_nothing_and_the_retry_stores_it_once(
    killer: asyncmy.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _reports()
    async with temp_database() as (url, store):
        db = url.rsplit("/", 1)[1].split("?", 1)[0]
        seen_before_kill: list[tuple[int, int]] = []
        kills: list[int] = []

        async def kill_first_attempt(conn_id: int) -> None:
            if kills:
                return
            kills.append(conn_id)
            async with killer.cursor() as cur:
                await cur.execute("KILL %s", (conn_id,))
            seen_before_kill.append(await _visible(killer, db))

        await store.fetch_windows(StatsQuery())  # the schema check commits too: done first
        before_commit(monkeypatch, kill_first_attempt)
        outcome = await ingest_reports(store, reports)
        monkeypatch.undo()

        assert len(kills) == 1
        assert seen_before_kill == [(0, 0)]  # the killed attempt left nothing behind
        assert outcome.ingested == [r.report_id for r in reports]
        assert await store.fetch_windows(StatsQuery()) == await _one_copy(reports)
        again = await ingest_reports(store, reports)
        assert again.ingested == [] and len(again.duplicates) == N_REPORTS
        assert await store.fetch_windows(StatsQuery()) == await _one_copy(reports)


async def test_without_retries_the_batch_fails_whole_and_a_resend_stores_it_once(
    killer: asyncmy.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _reports()
    async with temp_database() as (url, store):
        db = url.rsplit("/", 1)[1].split("?", 1)[0]
        no_retry = await open_backend(url.replace("backoff_s", "max_attempts=1&backoff_s"), "store")
        assert isinstance(no_retry, AuroraMeasurementStore)
        try:

            async def kill(conn_id: int) -> None:
                async with killer.cursor() as cur:
                    await cur.execute("KILL %s", (conn_id,))

            await no_retry.fetch_windows(StatsQuery())  # the schema check, before the kills
            before_commit(monkeypatch, kill)
            with pytest.raises(BackendUnavailableError, match="gone away"):
                await ingest_reports(no_retry, reports)
            monkeypatch.undo()
            assert await _visible(killer, db) == (0, 0)
            # The pool replaced the killed connection: the same store works again.
            outcome = await ingest_reports(no_retry, reports)
        finally:
            await no_retry.close()
        assert len(outcome.ingested) == N_REPORTS
        assert await _visible(killer, db) == (len(await _one_copy(reports)), N_REPORTS)
        assert await store.fetch_windows(StatsQuery()) == await _one_copy(reports)


async def test_pooled_connections_killed_while_idle_are_replaced(
    killer: asyncmy.Connection,
) -> None:
    reports = _reports()
    async with temp_database() as (url, store):
        db = url.rsplit("/", 1)[1].split("?", 1)[0]
        await ingest_reports(store, reports[:1])  # leaves an idle connection in the pool
        async with killer.cursor() as cur:
            # Only connections on this test's own database: parallel runs are left alone.
            await cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (db,))
            ids = [r[0] for r in await cur.fetchall()]
            assert ids
            for conn_id in ids:
                await cur.execute("KILL %s", (conn_id,))
        outcome = await ingest_reports(store, reports)
        assert outcome.duplicates == [reports[0].report_id]
        assert len(outcome.ingested) == N_REPORTS - 1
        assert await store.fetch_windows(StatsQuery()) == await _one_copy(reports)
