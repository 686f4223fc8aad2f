"""Measure now: run a spec through the runner and wrap the result in a report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from cloudperf_core.models import (
    MeasurementReport,
    ProbeSpec,
    TargetResult,
)
from cloudperf_core.ports import Clock
from cloudperf_core.reports import (
    new_report_id,
)

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What ``measure`` needs from :class:`cloudperf_core.fping.runner.FpingRunner`."""

    async def measure(
        self, spec: ProbeSpec, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[TargetResult]: ...


async def measure(
    runner: Runner,
    spec: ProbeSpec,
    *,
    source: str,
    clock: Clock,
    on_progress: Callable[[int, int], None] | None = None,
    job_id: str | None = None,
) -> MeasurementReport:
    """Run one measurement and wrap it in a report with a fresh id."""
    started_at_ms = clock.now_ms()
    results = await runner.measure(spec, on_progress=on_progress)
    return MeasurementReport(
        report_id=new_report_id(),
        source=source,
        started_at_ms=started_at_ms,
        finished_at_ms=clock.now_ms(),
        spec=spec,
        results=results,
        job_id=job_id,
    )
