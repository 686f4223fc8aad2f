"""The in-memory ``ReportSpool``: the agent's outbox for tests (gone with the process)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio.lowlevel

from cloudperf_core.clock import SystemClock
from cloudperf_core.ports import Clock
from cloudperf_core.protocol import RejectedReport, ReportSubmission, SpooledReport

__all__ = ["InMemoryReportSpool"]


class InMemoryReportSpool:
    """Pending and rejected submissions in dicts, ids counting up from 1."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._next_id = 1
        self._pending: dict[int, SpooledReport] = {}
        self._rejected: dict[int, RejectedReport] = {}

    async def put(self, submissions: Sequence[ReportSubmission]) -> list[int]:
        await anyio.lowlevel.checkpoint()
        now_ms = self._clock.now_ms()
        ids = list(range(self._next_id, self._next_id + len(submissions)))
        self._next_id += len(submissions)
        for spool_id, submission in zip(ids, submissions, strict=True):
            self._pending[spool_id] = SpooledReport(
                spool_id=spool_id, submission=submission, queued_at_ms=now_ms
            )
        return ids

    async def pending(self, limit: int = 100) -> list[SpooledReport]:
        await anyio.lowlevel.checkpoint()
        return [self._pending[k] for k in sorted(self._pending)[:limit]]

    async def pending_count(self) -> int:
        await anyio.lowlevel.checkpoint()
        return len(self._pending)

    async def remove(self, spool_id: int) -> None:
        await anyio.lowlevel.checkpoint()
        self._pending.pop(spool_id, None)

    async def reject(self, spool_id: int, reason: str) -> None:
        await anyio.lowlevel.checkpoint()
        item = self._pending.pop(spool_id, None)
        if item is not None:
            self._rejected[spool_id] = RejectedReport(
                spool_id=spool_id,
                submission=item.submission,
                queued_at_ms=item.queued_at_ms,
                rejected_at_ms=self._clock.now_ms(),
                reason=reason,
            )

    async def rejected(self, limit: int = 100) -> list[RejectedReport]:
        await anyio.lowlevel.checkpoint()
        return [self._rejected[k] for k in sorted(self._rejected)[:limit]]

    async def close(self) -> None:
        pass


if TYPE_CHECKING:  # mypy proves the fake satisfies its port; nothing runs here
    from cloudperf_core.ports import ReportSpool

    _fake: ReportSpool = InMemoryReportSpool()
