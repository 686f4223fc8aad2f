"""The scheduler tick: what ``cloudperf serve`` runs every ``tick_s`` and the scheduler Lambda
runs on its schedule. The planning itself is pure (:mod:`cloudperf_core.scheduler`).

One tick, in order:

1. reap: every lapsed lease's job goes back to its source's queue (or is dropped after its
   maximum deliveries; the planning below makes it again);
2. if the system is paused, stop here (retention still runs: it plans nothing);
3. sources: the locations of enabled probes seen within ``probe_online_s``; each one's room
   is ``backpressure_depth`` minus its queue depth (a full source gets nothing);
4. latency: per source, one job per live probe within its room, each to the next destination
   location in the source's rotation (``RotationCursors``) among the locations with answering
   addresses (``Catalog.reachable_locations``, cached ``destinations_refresh_s``), measuring
   up to ``latency_targets`` of its steadiest answering addresses ``latency_count`` times;
5. discovery: up to ``discovery_ranges_per_tick`` ranges not swept for
   ``discovery_interval_s``, in chunks, spread over the sources' remaining room; the ranges
   are marked queued;
6. retention roll-ups, at most every ``retention_every_s``, where the store has them
   (:class:`~cloudperf_core.ports.Retaining`: Aurora; SQLite and memory keep every window).

Idempotent per slot: job ids derive from (slot, source, destination or span), and each part
of a slot is claimed once in the cache (an atomic counter), so a repeated or concurrent tick
in the same slot issues nothing new and advances no cursor.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import msgspec

from cloudperf_core.catalog import MAX_PAGE, RetentionResult
from cloudperf_core.errors import NotFoundError
from cloudperf_core.models import AnyJob
from cloudperf_core.ports import (
    Cache,
    Catalog,
    Clock,
    JobQueue,
    LivenessTracker,
    MeasurementStore,
    RateCounters,
    Retaining,
    RotationCursors,
)
from cloudperf_core.scheduler import (
    SourceState,
    choose_targets,
    latency_job,
    latency_jobs_wanted,
    plan_discovery,
    slot_of,
)
from cloudperf_core.service.queries import all_probes
from cloudperf_core.settings import ServiceSettings

__all__ = ["TickPorts", "TickResult", "live_sources", "run_tick"]

log = logging.getLogger(__name__)
DESTINATIONS_KEY = "sched:destinations"
MAX_DESTINATIONS = 100_000
_names = msgspec.msgpack.Decoder(list[str])


@dataclass(frozen=True)
class TickPorts:
    """The ports one tick uses (the caller opens them, e.g. from ``bootstrap.Services``)."""

    catalog: Catalog
    jobs: JobQueue
    liveness: LivenessTracker
    cursors: RotationCursors
    cache: Cache
    counters: RateCounters
    store: MeasurementStore


class TickResult(msgspec.Struct, kw_only=True):
    """What one tick did (logged, returned by the scheduler Lambda)."""

    slot: int
    paused: bool = False
    reaped: int = 0
    sources: list[str] = msgspec.field(default_factory=list)  # live source locations
    busy: list[str] = msgspec.field(default_factory=list)  # at the back-pressure depth
    claimed_before: list[str] = msgspec.field(default_factory=list)  # parts run this slot
    destinations: int = 0
    latency_jobs: int = 0
    discovery_jobs: int = 0
    ranges_queued: int = 0
    ranges_never_probed: int = 0
    retention: RetentionResult | None = None


async def _claim(cache: Cache, key: str, ttl_s: float) -> bool:
    """True for the first caller of ``key`` within ``ttl_s`` (an atomic counter)."""
    return await cache.incr(key, 1, ttl_s=ttl_s) == 1


async def live_sources(
    catalog: Catalog, liveness: LivenessTracker, now_ms: int, online_s: int
) -> Counter[str]:
    """Location name -> enabled probes there seen within ``online_s``."""
    alive = set(await liveness.alive_since(now_ms - online_s * 1000))
    return Counter(
        p.location
        for p in await all_probes(catalog)
        if p.enabled and p.location is not None and p.probe_id in alive
    )


async def _destinations(ports: TickPorts, settings: ServiceSettings) -> list[str]:
    cached = await ports.cache.get(DESTINATIONS_KEY)
    if cached is not None:
        try:
            return _names.decode(cached)
        except msgspec.DecodeError:
            log.warning("ignoring a damaged cached destination list")
    names: list[str] = []
    while len(names) < MAX_DESTINATIONS:
        page = await ports.catalog.reachable_locations(
            after=names[-1] if names else None, limit=MAX_PAGE
        )
        names.extend(page)
        if len(page) < MAX_PAGE:
            break
    # An empty list is not kept: until a first sweep finds an address there is nothing to
    # cache, and the first destinations must not wait destinations_refresh_s to be seen.
    if names:
        await ports.cache.set(
            DESTINATIONS_KEY, msgspec.msgpack.encode(names), ttl_s=settings.destinations_refresh_s
        )
    return names


async def _latency_jobs(
    ports: TickPorts,
    settings: ServiceSettings,
    source: SourceState,
    destinations: list[str],
    *,
    slot: int,
    now_ms: int,
) -> list[AnyJob]:
    wanted = latency_jobs_wanted(source, len(destinations), settings.backpressure_depth)
    page = min(MAX_PAGE, max(200, settings.latency_targets * 10))
    jobs: list[AnyJob] = []
    for _ in range(wanted):
        destination = destinations[await ports.cursors.next(source.name, len(destinations))]
        try:
            found = await ports.catalog.reachable_addresses(destination, limit=page)
        except NotFoundError:  # removed since the destination list was cached
            continue
        targets = choose_targets(found, settings.latency_targets)
        if targets:
            jobs.append(
                latency_job(
                    slot=slot,
                    source=source.name,
                    destination=destination,
                    targets=targets,
                    now_ms=now_ms,
                    settings=settings,
                )
            )
    return jobs


async def run_tick(ports: TickPorts, settings: ServiceSettings, clock: Clock) -> TickResult:
    """One scheduler tick (see the module doc); safe to run again or concurrently."""
    now_ms = clock.now_ms()
    slot = slot_of(now_ms, settings.tick_s)
    claim_ttl_s = 2 * settings.tick_s + 60
    result = TickResult(slot=slot, reaped=await ports.jobs.reap())
    result.paused = (await ports.catalog.get_settings()).paused
    if not result.paused:
        await _plan(ports, settings, result, slot=slot, now_ms=now_ms, claim_ttl_s=claim_ttl_s)
    if isinstance(ports.store, Retaining) and await _claim(
        ports.cache, f"sched:retention:{now_ms // (settings.retention_every_s * 1000)}",
        settings.retention_every_s + 60,
    ):  # fmt: skip
        result.retention = await ports.store.apply_retention(now_ms // 1000)
    log.info(
        "tick %d: paused=%s reaped=%d sources=%d busy=%d latency=%d discovery=%d ranges=%d",
        slot, result.paused, result.reaped, len(result.sources), len(result.busy),
        result.latency_jobs, result.discovery_jobs, result.ranges_queued,
    )  # fmt: skip
    return result


async def _plan(
    ports: TickPorts,
    settings: ServiceSettings,
    result: TickResult,
    *,
    slot: int,
    now_ms: int,
    claim_ttl_s: float,
) -> None:
    probes_at = await live_sources(ports.catalog, ports.liveness, now_ms, settings.probe_online_s)
    result.sources = sorted(probes_at)
    room: dict[str, int] = {}
    destinations = await _destinations(ports, settings) if probes_at else []
    result.destinations = len(destinations)
    jobs: list[AnyJob] = []
    for name in result.sources:
        state = SourceState(name, probes_at[name], await ports.jobs.depth(name))
        room[name] = state.room(settings.backpressure_depth)
        if room[name] == 0:
            result.busy.append(name)
            continue
        if not destinations:
            continue
        if not await _claim(ports.cache, f"sched:{slot}:latency:{name}", claim_ttl_s):
            result.claimed_before.append(name)
            room[name] = 0  # planned this slot already, discovery included
            continue
        planned = await _latency_jobs(
            ports, settings, state, destinations, slot=slot, now_ms=now_ms
        )
        room[name] -= len(planned)
        jobs.extend(planned)
    result.latency_jobs = await ports.jobs.issue(jobs) if jobs else 0

    if any(room.values()):
        if await _claim(ports.cache, f"sched:{slot}:discovery", claim_ttl_s):
            due = await ports.catalog.ranges_due(
                checked_before_ms=now_ms - settings.discovery_interval_s * 1000,
                limit=settings.discovery_ranges_per_tick,
            )
            plan = plan_discovery(due, room, slot=slot, now_ms=now_ms, settings=settings)
            result.discovery_jobs = await ports.jobs.issue(plan.jobs) if plan.jobs else 0
            if plan.queued:
                await ports.catalog.mark_ranges_queued(plan.queued, now_ms)
            result.ranges_queued = len(plan.queued)
            result.ranges_never_probed = len(plan.never_probed)
        else:
            result.claimed_before.append("discovery")
    issued = result.latency_jobs + result.discovery_jobs
    if issued:
        await ports.counters.hit("jobs_issued", now_ms, issued)
