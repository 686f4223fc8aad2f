"""The agent with the real fping runner, one --once round against the app in-process.

About the runner, so it runs fping (marked ``runner``); probes go to 127.0.0.1 only."""

from __future__ import annotations

import pytest

from cloudperf_core import service
from cloudperf_core.fping.runner import FpingRunner
from cloudperf_core.models import Job, ProbeSpec, StatsQuery
from tests.support.probe_env import ProbeEnv
from tests.unit.agent.conftest import AgentFactory

pytestmark = pytest.mark.runner


async def test_one_round_with_real_fping_on_loopback(
    env: ProbeEnv, make_agent: AgentFactory
) -> None:
    spec = ProbeSpec(targets=("127.0.0.1",), count=5, period_ms=20, timeout_ms=500)
    await env.issue(Job(job_id="loop", source="lab", spec=spec))
    agent = make_agent(runner=FpingRunner())

    summary = await agent.run_once()

    assert summary.errors == [] and (summary.jobs_run, summary.delivered) == (1, 1)
    assert agent.can_send  # the self-check reached loopback
    await env.drain()
    store = await env.ctx.services.store()
    [group] = await service.query_stats(store, StatsQuery(sources=("p1",)), "target")
    assert group.dest == "127.0.0.1"
    assert (group.stats.sent, group.stats.received, group.stats.loss_ratio) == (5, 5, 0.0)
    assert group.stats.p50_us is not None and 0 < group.stats.p50_us < 100_000
