"""A scheduler tick on the real backends: the SQLite catalogue, jobs, claims, cursors,
liveness and counters on Redis. Two ticks of one slot (also from two processes' worth of
separate connections) issue each job once; the jobs lease from Redis intact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.memory import FakeClock
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import AddressRange, DiscoverySweep, Location, Probe
from cloudperf_core.models import DiscoveryJob, Job
from cloudperf_core.service.scheduling import run_tick
from cloudperf_core.settings import ServiceSettings
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url

pytestmark = pytest.mark.services

FRA = Location(name="AS64500 DE Frankfurt", country_code="DE", city="Frankfurt", asn=64500)
SYD = Location(name="AS64501 AU Sydney", country_code="AU", city="Sydney", asn=64501)
SETTINGS = ServiceSettings(latency_targets=3, discovery_chunk_hosts=128)


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[Config]:
    prefix = fresh_prefix()
    url = redis_url(prefix)
    yield Config(store=f"sqlite:///{tmp_path / 'cp.db'}", jobs=url, cache=url, settings=SETTINGS)
    await delete_prefix(prefix)


async def test_a_tick_on_sqlite_and_redis_issues_each_job_once(config: Config) -> None:
    clock = FakeClock()
    async with Services(config) as services:
        catalog = await services.catalog()
        await catalog.put_locations([FRA, SYD])
        await catalog.put_ranges(
            [
                AddressRange(start="10.231.7.0", end="10.231.7.255", location=SYD.name),
                AddressRange(start="fd00:231:7::", end="fd00:231:7::ff", location=FRA.name),
            ]
        )
        await catalog.record_sweep(
            DiscoverySweep(
                report_id="sweep-1", start="10.231.7.0", end="10.231.7.255",
                found=("10.231.7.20", "10.231.7.10"), at_ms=clock.now_ms(),
            )
        )  # fmt: skip
        await catalog.put_probe(Probe(probe_id="fra-1", token_hash="0" * 64, location=FRA.name))
        await (await services.liveness()).seen("fra-1", clock.now_ms())

        first = await run_tick(await services.tick_ports(), SETTINGS, clock)

    # A second scheduler (its own connections) running the same slot issues nothing.
    async with Services(config) as other:
        again = await run_tick(await other.tick_ports(), SETTINGS, clock)
        assert (again.latency_jobs, again.discovery_jobs) == (0, 0)
        jobs = await other.jobs()
        leased = await jobs.lease(FRA.name, 100, 60)
        counters = await other.counters()
        issued = await counters.per_minute("jobs_issued", 0, clock.now_ms() + 60_000)

    assert first.sources == [FRA.name] and first.destinations == 1
    assert first.latency_jobs == 1
    # The never-swept FRA range (IPv6, 256 addresses) in chunks of 128.
    assert first.discovery_jobs == 2 and first.ranges_queued == 1
    latency = [lj.job for lj in leased if isinstance(lj.job, Job)]
    discovery = [lj.job for lj in leased if isinstance(lj.job, DiscoveryJob)]
    assert [j.spec.targets for j in latency] == [("10.231.7.10", "10.231.7.20")]
    assert sorted((j.spec.start, j.spec.end) for j in discovery) == [
        ("fd00:231:7::", "fd00:231:7::7f"),
        ("fd00:231:7::80", "fd00:231:7::ff"),
    ]
    assert sum(c for _, c in issued) == 3
