"""The probe agent against the API in-process: one round, outages, refusals, fping that
cannot send, a probe killed mid-job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import msgspec

from adapters.memory import InMemoryReportSpool
from adapters.sqlite import SqliteReportSpool
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.errors import FpingError
from cloudperf_core.protocol import ReportSubmission
from cloudperf_core.service import directory
from tests.support.probe_env import ProbeEnv, discovery_job, latency_job, report_for
from tests.unit.agent.conftest import FAST, AgentFactory, FakeRunner, Switchable

WAIT_S = 10  # upper bound for something that takes milliseconds; never reached when it works


async def _reports_counted(env: ProbeEnv, probe: str) -> int:
    counters = await env.ctx.services.counters()
    now = env.ctx.clock.now_ms()
    return sum(c for _, c in await counters.per_minute(f"reports:{probe}", 0, now + 60_000))


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (yielding) until ``condition()`` is true; fail naming ``what`` if it never is."""
    with anyio.move_on_after(WAIT_S):
        # Polled: the states waited for (a spool, counters) have no events to wait on.
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"gave up waiting for: {what}")


async def test_one_round_runs_the_jobs_as_specified_and_delivers_them(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    latency, discovery = latency_job("j1"), discovery_job("d1", cidr="10.231.0.0/29")
    await env.issue(latency, discovery)
    runner = FakeRunner(found=["10.231.0.3"])
    agent = make_agent(runner=runner)

    summary = await agent.run_once()

    assert (summary.jobs_run, summary.delivered, summary.pending) == (2, 2, 0)
    assert summary.errors == [] and summary.rejected == 0
    assert sorted(map(repr, runner.finished)) == sorted([repr(latency.spec), repr(discovery.spec)])
    result = await env.drain()
    assert len(result.ingested) == 2 and all(r.startswith("p1:") for r in result.ingested)
    assert await env.sent("p1") == 2 * 4
    catalog = await env.ctx.services.catalog()
    assert [a.address for a in await catalog.reachable_addresses("lab")] == ["10.231.0.3"]
    assert await (await env.ctx.services.jobs()).depth("lab") == 0
    again = await agent.run_once()
    assert (again.jobs_run, again.delivered) == (0, 0)


async def test_a_big_report_is_split_below_the_body_limit(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job(targets=80))
    agent = make_agent(settings=msgspec.structs.replace(FAST, max_body_bytes=6000))

    summary = await agent.run_once()

    assert summary.jobs_run == 1 and summary.delivered > 2 and summary.pending == 0
    await env.drain()
    assert await env.sent("p1") == 80 * 4


async def test_an_fping_that_cannot_send_is_reported_as_such_never_as_loss(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job("j1"))
    runner = FakeRunner()
    runner.can_send = False
    agent = make_agent(runner=runner)

    summary = await agent.run_once()

    assert summary.jobs_run == 0 and any("cannot send" in e for e in summary.errors)
    assert runner.started == []  # no job was taken: p2 at the same location gets it now
    other = make_agent("p2")
    assert (await other.run_once()).jobs_run == 1
    status = await _probe_status(env, "p1")
    assert status["fping_can_send"] is False and status["online"] is True


async def test_a_job_that_finds_fping_unable_is_not_reported_and_its_lease_lapses(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job("j1"))
    runner = FakeRunner()
    runner.refuse_jobs = True  # loopback answers, the job's targets cannot be probed
    agent = make_agent(runner=runner)

    summary = await agent.run_once()

    assert (summary.jobs_run, summary.jobs_failed, summary.delivered) == (0, 1, 0)
    assert (await _probe_status(env, "p1"))["fping_can_send"] is False
    assert await env.queued() == []
    assert await (await env.ctx.services.jobs()).depth("lab") == 1  # leased, not lost


async def test_a_job_failing_on_an_fping_that_lost_its_socket_stops_the_polling(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job("j1"), latency_job("j2"))
    runner = FakeRunner()
    runner.job_error = FpingError("fping: can't create socket (must run as root?)", 4)
    runner.job_error_takes_the_socket = True  # e.g. an upgrade dropped fping's capability
    agent = make_agent(runner=runner, settings=msgspec.structs.replace(FAST, max_parallel_jobs=1))

    summary = await agent.run_once()

    assert (summary.jobs_run, summary.jobs_failed) == (0, 1)
    assert agent.can_send is False
    assert (await _probe_status(env, "p1"))["fping_can_send"] is False
    again = await agent.run_once()  # the self-check fails: j2 is left for other probes
    assert again.jobs_failed == 0 and any("cannot send" in e for e in again.errors)
    assert await env.queued() == []


async def test_a_job_failing_for_its_own_reasons_leaves_fping_trusted(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job("j1"))
    runner = FakeRunner()
    runner.job_error = FpingError("fping: some usage error", 1)  # loopback still answers
    agent = make_agent(runner=runner)

    summary = await agent.run_once()

    assert summary.jobs_failed == 1 and agent.can_send is True
    assert (await _probe_status(env, "p1"))["fping_can_send"] is True


async def test_the_api_down_for_a_while_the_spool_delivers_everything_once_afterwards(
    env: ProbeEnv, make_agent: AgentFactory, transport: Switchable
) -> None:
    await env.issue(*[latency_job(f"j{i}") for i in range(3)])
    runner = FakeRunner()
    runner.gate = anyio.Event()
    spool = InMemoryReportSpool()
    agent = make_agent(
        runner=runner, spool=spool, settings=msgspec.structs.replace(FAST, max_parallel_jobs=3)
    )

    async with anyio.create_task_group() as group:
        group.start_soon(agent.run)

        async def all_started() -> bool:
            return len(runner.started) == 3

        await _until(all_started, "three jobs running")
        transport.down = True  # the API goes away while the jobs run
        runner.gate.set()

        async def spooled_and_failing() -> bool:
            return await spool.pending_count() == 3 and transport.failures >= 3

        await _until(spooled_and_failing, "reports spooled, deliveries failing")
        transport.down = False

        async def delivered() -> bool:
            return await spool.pending_count() == 0

        await _until(delivered, "the spool emptied")
        group.cancel_scope.cancel()

    result = await env.drain()
    assert len(result.ingested) == 3 and result.duplicates == []
    assert await _reports_counted(env, "p1") == 3
    assert await env.sent("p1") == 3 * 2 * 4


async def test_reports_survive_a_restart_and_a_lost_answer_and_count_once(
    env: ProbeEnv, make_agent: AgentFactory, transport: Switchable, tmp_path: Path
) -> None:
    await env.issue(latency_job("j1"))
    path = tmp_path / "spool.db"
    spool = await SqliteReportSpool.open(path)
    transport.down_paths = {"/v1/probe/reports"}
    first = await make_agent(spool=spool).run_once()
    await spool.close()
    assert first.jobs_run == 1 and first.pending == 1 and first.errors

    # Restarted; the API takes the report, but its answer is lost on the way back.
    transport.down_paths = set()
    transport.lose_answers = True
    spool = await SqliteReportSpool.open(path)
    lost = await make_agent(spool=spool).run_once()
    assert lost.delivered == 0 and lost.pending == 1
    transport.lose_answers = False
    again = await make_agent(spool=spool).run_once()
    assert again.delivered == 1 and again.pending == 0
    await spool.close()

    result = await env.drain()
    assert len(result.ingested) == 1 and result.duplicates == []
    assert await _reports_counted(env, "p1") == 1
    assert await env.sent("p1") == 2 * 4


async def test_reports_refused_for_good_are_moved_aside_not_retried(
    env: ProbeEnv, make_agent: AgentFactory, ctx: ApiContext
) -> None:
    job = latency_job("j1")
    await env.issue(job)
    spool = InMemoryReportSpool()
    stale = report_for(job, "old", started_at_ms=env.ctx.clock.now_ms())
    await spool.put([ReportSubmission(lease_id="forgotten", report=stale)])
    agent = make_agent(spool=spool)

    summary = await agent.run_once()

    assert (summary.jobs_run, summary.delivered, summary.rejected) == (1, 1, 1)
    [aside] = await spool.rejected()
    assert aside.submission.lease_id == "forgotten" and "404 unknown_lease" in aside.reason
    assert (await agent.run_once()).rejected == 0  # never resent


async def test_a_revoked_token_keeps_the_reports_for_later(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    await env.issue(latency_job("j1"))
    spool = InMemoryReportSpool()
    agent = make_agent(spool=spool)
    summary = await agent.run_once()
    assert summary.delivered == 1
    await env.issue(latency_job("j2"))
    catalog = await env.ctx.services.catalog()
    [leased] = (await agent.api.poll(1)).jobs
    await spool.put(await agent.run_job(leased))
    await directory.set_probe_enabled(catalog, "p1", False)

    refused = await agent.run_once()

    assert any("403 probe_disabled" in e for e in refused.errors)
    assert refused.pending == 1 and refused.rejected == 0
    await directory.set_probe_enabled(catalog, "p1", True)
    assert (await agent.run_once()).delivered == 1


async def test_a_probe_killed_mid_job_its_job_is_done_by_the_other_probe_there(
    ctx: ApiContext, env: ProbeEnv, transport: Switchable, make_agent: AgentFactory
) -> None:
    # A one-second lease, so the killed probe's lease lapses within the test.
    short = ApiContext(
        services=ctx.services,
        settings=msgspec.structs.replace(ctx.settings, lease_s=1),
        clock=ctx.clock,
        hasher=ctx.hasher,
    )
    transport.inner = httpx.ASGITransport(app=create_app(short))
    await env.issue(latency_job("j1"))
    stuck = FakeRunner()
    stuck.gate = anyio.Event()  # never set: the job never finishes
    killed = make_agent("p1", runner=stuck)
    survivor_runner = FakeRunner()
    survivor = make_agent("p2", runner=survivor_runner)

    async with anyio.create_task_group() as group:
        group.start_soon(killed.run)

        async def taken() -> bool:
            return len(stuck.started) == 1

        await _until(taken, "p1 running the job")
        group.cancel_scope.cancel()  # p1 dies mid-job: nothing reported, the lease held
    assert await env.queued() == []

    async with anyio.create_task_group() as group:
        group.start_soon(survivor.run)

        async def done() -> bool:
            return survivor.stats.delivered == 1

        await _until(done, "p2 ran and reported the job")
        group.cancel_scope.cancel()

    assert len(survivor_runner.finished) == 1
    await env.drain()
    assert await env.sent("p2") == 2 * 4 and await env.sent("p1") == 0
    assert await (await env.ctx.services.jobs()).depth("lab") == 0


async def _probe_status(env: ProbeEnv, probe: str) -> dict[str, object]:
    from cloudperf_core.service import probes

    services = env.ctx.services
    listing = await probes.list_probes(
        directory=await services.catalog(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        counters=await services.counters(),
        clock=env.ctx.clock,
        settings=env.ctx.settings,
    )
    [view] = [p for p in listing.probes if p.probe_id == probe]
    return msgspec.structs.asdict(view)
