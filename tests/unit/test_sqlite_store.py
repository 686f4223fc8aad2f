"""The embedded SQLite store beyond its contract: schema upgrades, chunked merging and the
poison report of the hardening issue (a file in tmp_path; no server)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from adapters.memory import InMemoryMeasurementStore, InMemoryReportQueue
from adapters.sqlite import SqliteMeasurementStore
from adapters.sqlite import store as sqlite_store
from adapters.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from cloudperf_core import service
from cloudperf_core.errors import CloudperfError, ReportRejectedError
from cloudperf_core.models import (
    MeasurementReport,
    ProbeSpec,
    ReportWindows,
    StatsQuery,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.windows.aggregate import windows_for_reports

START_MS = 1_700_000_000_000


def _report(report_id: str, sent: int = 3) -> MeasurementReport:
    rtts: list[int | None] = [1000 + i for i in range(min(sent, 3))]
    return MeasurementReport(
        report_id=report_id,
        source="lab",
        started_at_ms=START_MS,
        spec=ProbeSpec(targets=("192.0.2.7",), count=3),
        results=[TargetResult(target="192.0.2.7", sent=sent, received=len(rtts), rtts_us=rtts)],
    )


def _poison(report_id: str) -> MeasurementReport:
    report = _report(report_id)
    report.results[0] = msgspec.structs.replace(
        report.results[0], sent=9223372036854775807, rtts_us=None
    )
    return report


async def _sent(store: SqliteMeasurementStore) -> int:
    [group] = await service.query_stats(store, StatsQuery(), "overall")
    return group.stats.sent


async def test_the_poison_report_never_reaches_the_window(tmp_path: Path) -> None:
    store = await SqliteMeasurementStore.open(tmp_path / "s.db")
    try:
        await service.ingest_reports(store, [_report("before")])
        with pytest.raises(ReportRejectedError, match="sent must be"):
            await service.ingest_reports(store, [_poison("poison")])
        # Every later sound report for that (source, target, window) is stored.
        for i in range(3):
            assert (await service.ingest_reports(store, [_report(f"after-{i}")])).ingested
        assert await _sent(store) == 4 * 3

        queue = InMemoryReportQueue(max_receives=1)
        bodies = [service.encode_report(r) for r in (_report("q1"), _poison("q2"), _report("q3"))]
        await queue.send(bodies)
        result = await service.process_report_batch(queue, store)
        assert sorted(result.ingested) == ["q1", "q3"] and len(result.failed) == 1
        assert [m.body for m in await queue.dead_letters(10)] == [bodies[1]]
        assert await _sent(store) == 6 * 3
    finally:
        await store.close()


async def test_a_version_1_file_is_upgraded_and_its_reports_stay_duplicates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO ingested_reports VALUES ('old', 1)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = await SqliteMeasurementStore.open(path)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        # Stored before digests were kept: the same id again cannot be told apart, so it is
        # a duplicate, never a conflict.
        outcome = await service.ingest_reports(store, [_report("old"), _report("new")])
        assert (outcome.ingested, outcome.duplicates, outcome.conflicts) == (["new"], ["old"], [])
        clash = await service.ingest_reports(store, [_report("new", sent=2)])
        assert clash.conflicts == ["new"]
    finally:
        await store.close()


async def test_chunked_merging_writes_what_one_pass_writes_and_stays_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "MERGE_CHUNK_KEYS", 7)
    targets = tuple(f"192.0.2.{i}" for i in range(1, 51))

    def wide(report_id: str, offset: int) -> MeasurementReport:
        return MeasurementReport(
            report_id=report_id,
            source="lab",
            started_at_ms=START_MS,
            spec=ProbeSpec(targets=targets, count=2),
            results=[
                TargetResult(target=t, sent=2, received=1, rtts_us=[1000 + i + offset, None])
                for i, t in enumerate(targets)
            ],
        )

    reference = InMemoryMeasurementStore()
    store = await SqliteMeasurementStore.open(tmp_path / "chunks.db")
    try:
        for backend in (reference, store):
            await service.ingest_reports(backend, [wide("a", 0)])
            await service.ingest_reports(backend, [wide("b", 5), wide("c", 9)])
        assert await store.fetch_windows(StatsQuery()) == await reference.fetch_windows(
            StatsQuery()
        )
        # A failure in the last chunk takes the earlier chunks of the batch back with it.
        corrupt = WindowAggregate(
            source="lab", target="192.0.2.50", window_start_s=START_MS // 60_000 * 60,
            window_s=60, sent=1, sketch=b"\x02bad",
        )  # fmt: skip
        before = await store.fetch_windows(StatsQuery())
        with pytest.raises(CloudperfError):
            await store.ingest(
                [*service_windows([wide("d", 1)]), ReportWindows(report_id="x", windows=[corrupt])]
            )
        assert await store.fetch_windows(StatsQuery()) == before
    finally:
        await store.close()


def service_windows(reports: list[MeasurementReport]) -> list[ReportWindows]:
    return windows_for_reports(reports, 60)
