"""``lambda_entry.scheduler.handler``: one scheduler tick per EventBridge Scheduler invocation.

The event's content does not matter (EventBridge Scheduler sends the schedule's input, ``{}``
by default; an EventBridge rule sends a "Scheduled Event"): the tick reads the clock, and is
idempotent per slot, so a retried or doubled invocation issues nothing twice
(:func:`cloudperf_core.service.scheduling.run_tick`). Returns what the tick did.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cloudperf_core.bootstrap import Services
from lambda_entry._runtime import call, jsonable, make_logger, metrics

logger = make_logger("scheduler")


async def _tick(services: Services) -> dict[str, Any]:
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service.scheduling import run_tick

    result = await run_tick(await services.tick_ports(), services.config.settings, SystemClock())
    metrics.add_metric("LatencyJobsIssued", MetricUnit.Count, result.latency_jobs)
    metrics.add_metric("DiscoveryJobsIssued", MetricUnit.Count, result.discovery_jobs)
    metrics.add_metric("LeasesReaped", MetricUnit.Count, result.reaped)
    metrics.add_metric("LiveSources", MetricUnit.Count, len(result.sources))
    out: dict[str, Any] = jsonable(result)
    return out


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return call(_tick)
