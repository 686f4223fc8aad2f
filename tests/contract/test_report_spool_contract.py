"""ReportSpool contract: the probe agent's outbox keeps order, delivers each item once, and
moves refused items aside with their reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.sqlite import SqliteMeasurementStore, SqliteReportSpool
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.protocol import ReportSubmission
from tests.contract.conftest import BackendTime
from tests.support.probe_env import latency_job, report_for


def submission(report_id: str, lease_id: str = "lease-1") -> ReportSubmission:
    report = report_for(latency_job(), report_id, started_at_ms=1_700_000_000_000)
    return ReportSubmission(lease_id=lease_id, report=report)


async def test_items_come_back_oldest_first_until_removed(
    spool: Any, backend_time: BackendTime
) -> None:
    first = await spool.put([submission("a"), submission("b")])
    await backend_time.elapse(1)
    [third] = await spool.put([submission("c")])

    pending = await spool.pending()

    assert [p.spool_id for p in pending] == [*first, third]
    assert first[0] < first[1] < third
    assert [p.submission for p in pending] == [submission("a"), submission("b"), submission("c")]
    assert pending[2].queued_at_ms - pending[0].queued_at_ms == 1000
    assert [p.spool_id for p in await spool.pending(limit=2)] == first
    assert await spool.pending_count() == 3
    await spool.remove(first[0])
    await spool.remove(first[0])  # gone already: no error
    assert [p.spool_id for p in await spool.pending()] == [first[1], third]
    assert await spool.pending_count() == 2


async def test_a_rejected_item_is_kept_aside_with_its_reason_and_never_pending_again(
    spool: Any, backend_time: BackendTime
) -> None:
    ids = await spool.put([submission("a"), submission("b", lease_id="lease-2")])
    await backend_time.elapse(2)

    await spool.reject(ids[1], "404 unknown_lease: no such lease")

    assert [p.spool_id for p in await spool.pending()] == [ids[0]]
    [aside] = await spool.rejected()
    assert (aside.spool_id, aside.reason) == (ids[1], "404 unknown_lease: no such lease")
    assert aside.submission == submission("b", lease_id="lease-2")
    assert aside.rejected_at_ms - aside.queued_at_ms == 2000
    assert await spool.pending_count() == 1


async def test_a_new_item_never_reuses_the_id_of_a_removed_one(spool: Any) -> None:
    [old] = await spool.put([submission("a")])
    await spool.remove(old)
    [new] = await spool.put([submission("b")])
    assert new > old


async def test_the_sqlite_spool_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = await SqliteReportSpool.open(path)
    ids = await spool.put([submission("a"), submission("b")])
    await spool.reject(ids[0], "refused")
    await spool.close()

    reopened = await SqliteReportSpool.open(path)
    assert [p.submission for p in await reopened.pending()] == [submission("b")]
    assert [r.reason for r in await reopened.rejected()] == ["refused"]
    await reopened.close()


async def test_the_sqlite_spool_refuses_a_file_that_is_something_else(tmp_path: Path) -> None:
    store = await SqliteMeasurementStore.open(tmp_path / "store.db")
    await store.close()
    with pytest.raises(BackendConfigError, match="not a cloudperf probe spool"):
        await SqliteReportSpool.open(tmp_path / "store.db")
