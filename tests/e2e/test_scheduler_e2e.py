"""The scheduler with a real probe's work: the catalogue holds only the test hosts' range (and a
documentation range that must never become a job). Tick 1 queues the discovery of the test
hosts' block, which real fping sweeps; tick 2 sends a latency job to exactly the hosts that
answered, which real fping measures; the stats land on the destination location."""

from __future__ import annotations

import ipaddress

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
from cloudperf_core.catalog import AddressRange, DiscoverySweep, Location, Probe
from cloudperf_core.clock import SystemClock
from cloudperf_core.fping.runner import FpingRunner
from cloudperf_core.models import DiscoveryJob, Job, PlaceQuery
from cloudperf_core.service import ingest_reports, measure, query_stats
from cloudperf_core.service.scheduling import TickPorts, run_tick
from cloudperf_core.settings import ServiceSettings
from tests.support.testhosts import Impairment, TestNetwork

SRC = Location(name="AS64510 DE Frankfurt am Main, Hesse", country_code="DE", asn=64510)
DST = Location(name="AS64511 AU Sydney, New South Wales", country_code="AU", asn=64511)
DOC = Location(name="AS64496 AU Sydney, New South Wales", country_code="AU", asn=64496)
SETTINGS = ServiceSettings(
    latency_targets=10, latency_count=3, latency_period_ms=100, latency_timeout_ms=500,
    discovery_chunk_hosts=4,
)  # fmt: skip
UP, DOWN = Impairment(), Impairment(silent=True)


async def test_discovery_then_latency_on_the_test_hosts_only(testnet: TestNetwork) -> None:
    cidr, addresses = testnet.add_block([DOWN, UP, UP, DOWN, UP, DOWN, DOWN, UP])
    answering = {a for a, imp in zip(addresses, [DOWN, UP, UP, DOWN, UP, DOWN, DOWN, UP],
                                     strict=True) if not imp.silent}  # fmt: skip
    net = ipaddress.ip_network(cidr)
    clock = FakeClock(start_ms=SystemClock().now_ms())
    catalog = InMemoryCatalog()
    await catalog.put_locations([SRC, DST, DOC])
    await catalog.put_ranges(
        [
            AddressRange(start=str(net[0]), end=str(net[-1]), location=DST.name),
            AddressRange(start="192.0.2.0", end="192.0.2.255", location=DOC.name),
        ]
    )
    await catalog.put_probe(Probe(probe_id="fra-1", token_hash="0" * 64, location=SRC.name))
    liveness, jobs = InMemoryLivenessTracker(), InMemoryJobQueue(clock)
    store = InMemoryMeasurementStore()
    ports = TickPorts(
        catalog=catalog, jobs=jobs, liveness=liveness, cursors=InMemoryRotationCursors(),
        cache=InMemoryCache(clock), counters=InMemoryRateCounters(clock=clock), store=store,
    )  # fmt: skip
    runner = FpingRunner()

    # Tick 1: nothing is known to answer yet, so discovery only (of the test hosts' block).
    await liveness.seen("fra-1", clock.now_ms())
    first = await run_tick(ports, SETTINGS, clock)
    assert (first.latency_jobs, first.discovery_jobs, first.ranges_never_probed) == (0, 2, 1)
    found: set[str] = set()
    for held in await jobs.lease(SRC.name, 10, SETTINGS.lease_s):
        job = held.job
        assert isinstance(job, DiscoveryJob)
        assert ipaddress.ip_address(job.spec.start) in net  # never the documentation range
        alive = await runner.discover(job.spec)
        found |= set(alive)
        await catalog.record_sweep(
            DiscoverySweep(report_id=job.job_id, start=job.spec.start, end=job.spec.end or "",
                           found=tuple(alive), at_ms=clock.now_ms())
        )  # fmt: skip
        await jobs.ack(held.lease_id)
    assert found == answering

    # Tick 2 (the next slot, destinations refreshed): a latency job to the answering hosts.
    clock.advance(SETTINGS.destinations_refresh_s)
    await liveness.seen("fra-1", clock.now_ms())
    second = await run_tick(ports, SETTINGS, clock)
    assert (second.latency_jobs, second.discovery_jobs) == (1, 0)
    (held,) = await jobs.lease(SRC.name, 10, SETTINGS.lease_s)
    assert isinstance(held.job, Job) and set(held.job.spec.targets) == answering
    report = await measure(runner, held.job.spec, source="fra-1", clock=SystemClock(),
                           job_id=held.job.job_id)  # fmt: skip
    await ingest_reports(store, [report], catalog=catalog)
    await jobs.ack(held.lease_id)
    (stats,) = await query_stats(store, PlaceQuery(), "location", catalog=catalog)
    assert stats.dest == DST.name
    assert (stats.stats.sent, stats.stats.received) == (3 * len(answering), 3 * len(answering))
