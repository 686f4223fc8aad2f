"""How the whole system is doing, in one answer (``GET /v1/status``).

Catalogue sizes (reachable addresses new/stable/lost, ranges fresh/stale/queued), what has
data lately, probes online, the per-minute rates of the shared counters, and the job queue
depth of every source location that has probes, and the reports queue's (waiting, in flight,
dead-lettered). Everything is read from the ports; nothing
here is cached or computed twice.

Definitions: a range is *fresh* when swept within ``settings.discovery_interval_s``; a probe
is *online* when seen within ``settings.probe_online_s``; "lately" for data is the last
hour. Rates are the counters' complete minutes (the current minute is still counting).
"""

from __future__ import annotations

import msgspec

from cloudperf_core.catalog import CatalogStatus
from cloudperf_core.clock import MINUTE_MS, minute_start_ms
from cloudperf_core.models import ReportQueueDepth
from cloudperf_core.ports import (
    Catalog,
    Clock,
    JobQueue,
    LivenessTracker,
    MeasurementStore,
    RateCounters,
    ReportQueue,
)
from cloudperf_core.service.queries import all_probes
from cloudperf_core.settings import ServiceSettings

__all__ = ["RATE_COUNTERS", "DataStatus", "QueueDepth", "Rate", "SystemStatus", "system_status"]

#: The shared counters the status reports (names from the service design).
RATE_COUNTERS = ("reports", "jobs", "jobs_issued", "ingested")
DATA_WINDOW_S = 3600
RATE_MINUTES = 60  # minutes of history per counter
AVERAGE_MINUTES = 15


class Rate(msgspec.Struct, kw_only=True):
    """One counter: the last complete minute, the mean of the last 15, and every non-empty
    minute of the last hour as ``[minute_start_ms, count]``."""

    name: str
    last_minute: int
    per_minute_15m: float
    minutes: list[tuple[int, int]]


class QueueDepth(msgspec.Struct, kw_only=True):
    """Jobs of one source location not yet acknowledged (ready or leased)."""

    source: str
    depth: int


class DataStatus(msgspec.Struct, kw_only=True):
    """What has windows starting in the last hour."""

    since_s: int
    sources: int
    dest_locations: int
    pairs: int


class SystemStatus(msgspec.Struct, kw_only=True):
    now_ms: int
    paused: bool
    catalog: CatalogStatus
    data: DataStatus
    probes_online: int
    rates: list[Rate]
    job_queues: list[QueueDepth]
    # The reports queue between the API and the worker (None: not asked for).
    report_queue: ReportQueueDepth | None = None


async def system_status(
    *,
    catalog: Catalog,
    store: MeasurementStore,
    jobs: JobQueue,
    liveness: LivenessTracker,
    counters: RateCounters,
    settings: ServiceSettings,
    clock: Clock,
    reports: ReportQueue | None = None,
) -> SystemStatus:
    now_ms = clock.now_ms()
    sizes = await catalog.status(fresh_since_ms=now_ms - settings.discovery_interval_s * 1000)
    since_s = now_ms // 1000 - DATA_WINDOW_S
    presence = await store.data_presence(since_s, None)
    probes = await all_probes(catalog)
    enabled = {p.probe_id for p in probes if p.enabled}
    online = await liveness.alive_since(now_ms - settings.probe_online_s * 1000)
    sources = sorted({p.location for p in probes if p.enabled and p.location is not None})
    return SystemStatus(
        now_ms=now_ms,
        paused=(await catalog.get_settings()).paused,
        catalog=sizes,
        data=DataStatus(
            since_s=since_s,
            sources=len(presence.sources),
            dest_locations=len(presence.dest_location_ids),
            pairs=presence.pairs,
        ),
        probes_online=len(enabled.intersection(online)),
        rates=[await _rate(counters, name, now_ms) for name in RATE_COUNTERS],
        job_queues=[QueueDepth(source=s, depth=await jobs.depth(s)) for s in sources],
        report_queue=None if reports is None else await reports.depth(),
    )


async def _rate(counters: RateCounters, name: str, now_ms: int) -> Rate:
    current = minute_start_ms(now_ms)  # still counting: left out
    since = current - RATE_MINUTES * MINUTE_MS
    minutes = await counters.per_minute(name, since, current)
    counts = dict(minutes)
    recent = sum(c for m, c in minutes if m >= current - AVERAGE_MINUTES * MINUTE_MS)
    return Rate(
        name=name,
        last_minute=counts.get(current - MINUTE_MS, 0),
        per_minute_15m=recent / AVERAGE_MINUTES,
        minutes=minutes,
    )
