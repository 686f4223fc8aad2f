"""A registered fleet of probes over an ApiContext: locations, probes with tokens, a viewer
session, jobs to issue, reports to make, and the worker that drains the reports queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from cloudperf_core import service
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import mint_session_token, token_hash
from cloudperf_core.catalog import AddressRange, Location, User
from cloudperf_core.models import (
    DiscoveryJob,
    DiscoverySpec,
    Job,
    MeasurementReport,
    ProbeSpec,
    StatsQuery,
    TargetResult,
)
from cloudperf_core.service import directory
from cloudperf_core.service.batches import BatchResult

#: Test-host ranges only (tests/support/testhosts.py): never documentation ranges for jobs.
LAB_RANGE = AddressRange(start="10.231.0.0", end="10.231.0.255", location="lab")


def latency_job(job_id: str = "j1", *, source: str = "lab", targets: int = 2) -> Job:
    spec = ProbeSpec(
        targets=tuple(f"10.231.0.{i + 1}" for i in range(targets)), count=4, period_ms=100
    )
    return Job(job_id=job_id, source=source, spec=spec)


def discovery_job(
    job_id: str = "d1", *, source: str = "lab", cidr: str = "10.231.0.0/29"
) -> DiscoveryJob:
    return DiscoveryJob(job_id=job_id, source=source, spec=DiscoverySpec(start=cidr, max_hosts=8))


def report_for(
    job: Job, report_id: str = "r1", *, started_at_ms: int, source: str = "whatever"
) -> MeasurementReport:
    """A plausible report of ``job``: 3 of 4 probes answered for every target."""
    results = [
        TargetResult(target=t, sent=4, received=3, rtts_us=[1000 + i, None, 1200 + i, 1100 + i])
        for i, t in enumerate(job.spec.targets)
    ]
    return MeasurementReport(
        report_id=report_id,
        source=source,
        started_at_ms=started_at_ms,
        finished_at_ms=started_at_ms + 500,
        spec=job.spec,
        results=results,
        job_id=job.job_id,
    )


@dataclass
class ProbeEnv:
    ctx: ApiContext
    tokens: dict[str, str] = field(default_factory=dict)
    viewer_token: str = ""

    def headers(self, probe_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[probe_id]}"}

    def viewer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.viewer_token}"}

    async def issue(self, *jobs: Job | DiscoveryJob) -> None:
        queue = await self.ctx.services.jobs()
        assert await queue.issue(jobs) == len(jobs)

    async def drain(self) -> BatchResult:
        """One worker pass over the reports queue (latency -> store, discovery -> catalogue)."""
        services = self.ctx.services
        return await service.process_report_batch(
            await services.reports(),
            await services.store(),
            max_messages=100,
            catalog=await services.catalog(),
            clock=self.ctx.clock,
        )

    async def queued(self) -> list[dict[str, object]]:
        """Every message on the reports queue (decoded JSON), left on the queue."""
        queue = await self.ctx.services.reports()
        messages = await queue.receive(100, 30)
        await queue.release([m.receipt for m in messages])
        return [msgspec.json.decode(m.body) for m in messages]

    async def sent(self, source: str | None = None) -> int:
        """Probes sent, over every stored window (of one source)."""
        store = await self.ctx.services.store()
        query = StatsQuery(sources=None if source is None else (source,))
        groups = await service.query_stats(store, query, "overall")
        return groups[0].stats.sent if groups else 0


async def probe_env(ctx: ApiContext, probes: dict[str, str] | None = None) -> ProbeEnv:
    """Locations ``lab`` (with LAB_RANGE) and ``far``; probes p1, p2 at lab, p3 at far."""
    catalog = await ctx.services.catalog()
    await catalog.put_locations([Location(name="lab"), Location(name="far")])
    await catalog.put_ranges([LAB_RANGE])
    env = ProbeEnv(ctx=ctx)
    for name, location in (probes or {"p1": "lab", "p2": "lab", "p3": "far"}).items():
        _, env.tokens[name] = await directory.register_probe(
            catalog, catalog, ctx.clock, name, location
        )
    await catalog.put_user(User(name="vera", password_hash="unused", role="viewer"))
    env.viewer_token = mint_session_token()
    sessions = await ctx.services.sessions()
    await sessions.create(token_hash(env.viewer_token), "vera", "viewer", 3600)
    return env
