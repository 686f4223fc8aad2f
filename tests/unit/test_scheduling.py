"""The scheduler tick over in-memory fakes: sources from live enabled probes, rotation over
destinations, back-pressure, discovery chunks, idempotence per slot, pause, reaping,
retention. Catalogue addresses are the test hosts' ranges; nothing here sends a packet."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest

from adapters.memory import (
    FakeClock,
    InMemoryCache,
    InMemoryCatalog,
    InMemoryJobQueue,
    InMemoryLivenessTracker,
    InMemoryMeasurementStore,
    InMemoryRateCounters,
    InMemoryRotationCursors,
)
from cloudperf_core.catalog import (
    AddressRange,
    DiscoverySweep,
    Location,
    Probe,
    RetentionPolicy,
    RetentionResult,
    Settings,
)
from cloudperf_core.models import DiscoveryJob, Job, LeasedJob
from cloudperf_core.scheduler import latency_runtime_s
from cloudperf_core.service.scheduling import TickPorts, run_tick
from cloudperf_core.settings import ServiceSettings

FRA = Location(name="AS64500 DE Frankfurt", country_code="DE", city="Frankfurt", asn=64500)
SYD = Location(name="AS64501 AU Sydney", country_code="AU", city="Sydney", asn=64501)
NYC = Location(name="AS64502 US New York", country_code="US", city="New York", asn=64502)
DOC = Location(name="AS64496 ZZ Documentation", asn=64496)
RANGES = [
    AddressRange(start="10.231.1.0", end="10.231.1.255", location=SYD.name),
    AddressRange(start="10.231.2.0", end="10.231.2.255", location=NYC.name),
    AddressRange(start="fd00:231:3::", end="fd00:231:3::ff", location=FRA.name),
    AddressRange(start="192.0.2.0", end="192.0.2.255", location=DOC.name),
]
SETTINGS = ServiceSettings(latency_targets=2, backpressure_depth=100, discovery_chunk_hosts=64)


@dataclass
class World:
    clock: FakeClock = field(default_factory=FakeClock)
    catalog: InMemoryCatalog = field(default_factory=InMemoryCatalog)
    liveness: InMemoryLivenessTracker = field(default_factory=InMemoryLivenessTracker)
    store: object = field(default_factory=InMemoryMeasurementStore)

    def __post_init__(self) -> None:
        self.jobs = InMemoryJobQueue(clock=self.clock)
        self.cache = InMemoryCache(clock=self.clock)
        self.counters = InMemoryRateCounters(clock=self.clock)
        self.cursors = InMemoryRotationCursors()

    def ports(self) -> TickPorts:
        return TickPorts(
            catalog=self.catalog, jobs=self.jobs, liveness=self.liveness, cursors=self.cursors,
            cache=self.cache, counters=self.counters, store=self.store,  # type: ignore[arg-type]
        )  # fmt: skip

    async def tick(self, settings: ServiceSettings = SETTINGS):  # type: ignore[no-untyped-def]
        return await run_tick(self.ports(), settings, self.clock)

    async def probe(self, probe_id: str, location: Location, enabled: bool = True) -> None:
        await self.catalog.put_probe(
            Probe(probe_id=probe_id, token_hash="x" * 64, location=location.name, enabled=enabled)
        )
        await self.liveness.seen(probe_id, self.clock.now_ms())

    async def sweep(self, start: str, end: str, *found: str) -> None:
        await self.catalog.record_sweep(
            DiscoverySweep(
                report_id=f"sweep-{start}-{self.clock.now_ms()}", start=start, end=end,
                found=found, at_ms=self.clock.now_ms(),
            )
        )  # fmt: skip

    async def lease_all(self, source: str) -> list[LeasedJob]:
        return await self.jobs.lease(source, 1000, 60)


async def world() -> World:
    w = World()
    await w.catalog.put_locations([FRA, SYD, NYC, DOC])
    await w.catalog.put_ranges(RANGES)
    await w.sweep("10.231.1.0", "10.231.1.255", "10.231.1.5", "10.231.1.9", "10.231.1.7")
    await w.sweep("10.231.2.0", "10.231.2.255", "10.231.2.1")
    return w


async def test_no_live_probe_means_no_job() -> None:
    w = await world()
    result = await w.tick()
    assert (result.sources, result.latency_jobs, result.discovery_jobs) == ([], 0, 0)
    assert await w.jobs.depth(FRA.name) == 0


async def test_each_live_probe_gets_a_latency_job_rotating_over_destinations() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    seen: list[tuple[str, ...]] = []
    for _ in range(4):
        result = await w.tick(msgspec.structs.replace(SETTINGS, discovery_ranges_per_tick=1))
        assert result.sources == [FRA.name] and result.latency_jobs == 1
        leased = await w.lease_all(FRA.name)
        latency = [lj.job for lj in leased if isinstance(lj.job, Job)]
        assert len(latency) == 1
        seen.append(latency[0].spec.targets)
        for lj in leased:
            await w.jobs.ack(lj.lease_id)
        w.clock.advance(SETTINGS.tick_s)
        await w.liveness.seen("fra-1", w.clock.now_ms())
    # Two destinations have answering addresses: the rotation alternates between them, and a
    # job measures the steadiest N=2 of them (all equally new here: the lowest addresses).
    assert seen == [("10.231.1.5", "10.231.1.7"), ("10.231.2.1",)] * 2
    spec = latency[0].spec
    assert (spec.count, spec.period_ms, spec.timeout_ms) == (10, 1000, 1000)
    assert latency_runtime_s(spec) <= SETTINGS.lease_s / 2


async def test_the_first_sweep_results_are_destinations_at_the_next_tick() -> None:
    # Before any sweep found an address there is no destination; that empty answer is not
    # cached for destinations_refresh_s, so the tick after the first sweep already uses it.
    w = World()
    await w.catalog.put_locations([FRA, SYD])
    await w.catalog.put_ranges(RANGES[:1])
    await w.probe("fra-1", FRA)
    first = await w.tick()
    assert (first.destinations, first.latency_jobs, first.discovery_jobs) == (0, 0, 4)
    await w.sweep("10.231.1.0", "10.231.1.255", "10.231.1.5")
    w.clock.advance(SETTINGS.tick_s)
    await w.liveness.seen("fra-1", w.clock.now_ms())
    second = await w.tick()
    assert (second.destinations, second.latency_jobs) == (1, 1)


async def test_a_second_tick_in_the_same_slot_issues_nothing_and_keeps_the_rotation() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    await w.probe("fra-2", FRA)
    first = await w.tick()
    assert first.latency_jobs == 2  # one per live probe, to the two destinations
    depth = await w.jobs.depth(FRA.name)
    cursor = await w.cursors.get(FRA.name)

    again = await w.tick()

    assert (again.latency_jobs, again.discovery_jobs) == (0, 0)
    assert again.claimed_before == [FRA.name]
    assert await w.jobs.depth(FRA.name) == depth
    assert await w.cursors.get(FRA.name) == cursor


async def test_disabled_or_silent_probes_are_no_source() -> None:
    w = await world()
    await w.probe("off", FRA, enabled=False)
    await w.probe("gone", SYD)
    w.clock.advance(SETTINGS.probe_online_s + 1)
    await w.probe("nyc-1", NYC)
    result = await w.tick()
    assert result.sources == [NYC.name]
    assert await w.jobs.depth(FRA.name) == await w.jobs.depth(SYD.name) == 0


async def test_back_pressure_stops_new_jobs_until_the_queue_drains() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    settings = msgspec.structs.replace(SETTINGS, backpressure_depth=5)
    for _ in range(5):
        await w.tick(settings)
        w.clock.advance(SETTINGS.tick_s)
        await w.liveness.seen("fra-1", w.clock.now_ms())
    depth = await w.jobs.depth(FRA.name)
    assert depth >= settings.backpressure_depth

    blocked = await w.tick(settings)

    assert blocked.busy == [FRA.name] and blocked.latency_jobs == blocked.discovery_jobs == 0
    assert await w.jobs.depth(FRA.name) == depth
    for lj in await w.lease_all(FRA.name):
        await w.jobs.ack(lj.lease_id)
    w.clock.advance(SETTINGS.tick_s)
    await w.liveness.seen("fra-1", w.clock.now_ms())
    assert (await w.tick(settings)).latency_jobs == 1


async def test_discovery_sweeps_due_ranges_in_chunks_but_never_documentation_ones() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    await w.probe("syd-1", SYD)
    settings = SETTINGS
    w.clock.advance(SETTINGS.discovery_interval_s + 1)  # the two sweeps above are due again
    await w.liveness.seen("fra-1", w.clock.now_ms())
    await w.liveness.seen("syd-1", w.clock.now_ms())

    result = await w.tick(settings)

    assert result.ranges_queued == 4 and result.ranges_never_probed == 1
    discovery = [
        lj.job
        for source in (FRA.name, SYD.name)
        for lj in await w.lease_all(source)
        if isinstance(lj.job, DiscoveryJob)
    ]
    assert result.discovery_jobs == len(discovery) == 4 + 4 + 4  # 256 / 64 each, doc: none
    spans = sorted((j.spec.start, j.spec.end) for j in discovery)
    assert (
        spans[0] == ("10.231.1.0", "10.231.1.63") and ("fd00:231:3::c0", "fd00:231:3::ff") in spans
    )
    assert not any(s.startswith("192.0.2.") for s, _ in spans)
    assert {j.source for j in discovery} == {FRA.name, SYD.name}
    # Queued ranges are not due again in the next slot.
    w.clock.advance(SETTINGS.tick_s)
    assert (await w.tick(settings)).ranges_queued == 0


async def test_paused_issues_nothing_but_still_reaps() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    await w.tick()
    held = await w.jobs.lease(FRA.name, 1, 1)
    assert held
    await w.catalog.put_settings(Settings(paused=True))
    w.clock.advance(SETTINGS.tick_s)
    await w.liveness.seen("fra-1", w.clock.now_ms())

    result = await w.tick()

    assert result.paused and result.reaped == 1
    assert (result.latency_jobs, result.discovery_jobs, result.sources) == (0, 0, [])
    await w.catalog.put_settings(Settings(paused=False))
    assert (await w.tick()).latency_jobs == 1


async def test_issued_jobs_are_counted() -> None:
    w = await world()
    await w.probe("fra-1", FRA)
    result = await w.tick()
    counted = await w.counters.per_minute("jobs_issued", 0, w.clock.now_ms() + 60_000)
    assert sum(c for _, c in counted) == result.latency_jobs + result.discovery_jobs > 0


class RetainingStore(InMemoryMeasurementStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    async def apply_retention(
        self, now_s: int, policy: RetentionPolicy | None = None
    ) -> RetentionResult:
        self.calls.append(now_s)
        return RetentionResult(rolled_up=len(self.calls))


@pytest.mark.parametrize("retaining", [True, False])
async def test_retention_runs_once_per_period_where_the_store_has_it(retaining: bool) -> None:
    w = World(store=RetainingStore() if retaining else InMemoryMeasurementStore())
    results = []
    for _ in range(3):
        results.append(await w.tick())
        w.clock.advance(SETTINGS.tick_s)
    w.clock.advance(SETTINGS.retention_every_s)
    results.append(await w.tick())
    ran = [r.retention is not None for r in results]
    assert ran == ([True, False, False, True] if retaining else [False] * 4)
