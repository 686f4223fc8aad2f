"""The agent against the API in-process (httpx's ASGI transport), with a fake runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest

from adapters.http_probe_api import HttpProbeApi
from adapters.memory import InMemoryReportSpool
from cloudperf_core.agent import SELF_CHECK_SPEC, Agent, AgentSettings, ProbeRunner
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.errors import CloudperfError, ProbePermissionError
from cloudperf_core.models import DiscoverySpec, ProbeSpec, TargetResult
from cloudperf_core.ports import ReportSpool
from tests.support.probe_env import ProbeEnv, probe_env
from tests.unit.api import conftest as api_fixtures

#: Quick pacing, so loops turn over in milliseconds (no test asserts how long anything took).
FAST = AgentSettings(
    heartbeat_interval_s=0.05,
    poll_interval_s=0.01,
    backoff_base_s=0.01,
    backoff_cap_s=0.05,
    agent_version="test",
)


class FakeRunner:
    """Answers every probe after 1 ms; ``gate`` (when set) holds jobs until it is set;
    ``can_send=False`` fails like fping without raw-socket permission; ``refuse_jobs`` fails
    only the jobs (the loopback self-check passes: a firewall, say)."""

    def __init__(self, *, found: list[str] | None = None) -> None:
        self.found = found or []
        self.can_send = True
        self.refuse_jobs = False
        self.job_error: CloudperfError | None = None  # every job fails with it
        self.job_error_takes_the_socket = False  # ... and from then on fping cannot send
        self.gate: anyio.Event | None = None
        self.started: list[ProbeSpec | DiscoverySpec] = []
        self.finished: list[ProbeSpec | DiscoverySpec] = []

    async def measure(self, spec: ProbeSpec, *, on_progress: Any = None) -> list[TargetResult]:
        if not self.can_send or (self.refuse_jobs and spec != SELF_CHECK_SPEC):
            raise ProbePermissionError("fping could not send probes")
        if spec != SELF_CHECK_SPEC:
            if self.job_error is not None:
                self.can_send = not self.job_error_takes_the_socket
                raise self.job_error
            await self._hold(spec)
        return [
            TargetResult(
                target=t, sent=spec.count, received=spec.count, rtts_us=[1000] * spec.count
            )
            for t in spec.targets
        ]

    async def discover(self, spec: DiscoverySpec) -> list[str]:
        await self._hold(spec)
        return list(self.found)

    async def _hold(self, spec: ProbeSpec | DiscoverySpec) -> None:
        self.started.append(spec)
        if self.gate is not None:
            await self.gate.wait()
        await anyio.sleep(0.001)
        self.finished.append(spec)


class Switchable(httpx.AsyncBaseTransport):
    """The app's transport, with an outage switch: while ``down`` (for every path, or the
    paths in ``down_paths``) requests fail as a refused connection would. ``lose_answers``
    passes the request to the API and then loses its answer (a dropped connection)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.down_paths: set[str] = set()
        self.lose_answers = False
        self.failures = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down or request.url.path in self.down_paths:
            self.failures += 1
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.inner.handle_async_request(request)
        if self.lose_answers:
            await response.aread()
            self.failures += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


ctx = api_fixtures.ctx  # the fixture: an API context over fresh in-memory backends


@pytest.fixture
async def env(ctx: ApiContext) -> ProbeEnv:
    return await probe_env(ctx)


@pytest.fixture
def transport(ctx: ApiContext) -> Switchable:
    app = create_app(ctx)
    return Switchable(httpx.ASGITransport(app=app, raise_app_exceptions=False))


AgentFactory = Callable[..., Agent]


@pytest.fixture
async def make_agent(env: ProbeEnv, transport: Switchable) -> AsyncIterator[AgentFactory]:
    apis: list[HttpProbeApi] = []

    def make(
        probe: str = "p1",
        runner: ProbeRunner | None = None,
        spool: ReportSpool | None = None,
        settings: AgentSettings = FAST,
    ) -> Agent:
        api = HttpProbeApi("http://testserver", env.tokens[probe], transport=transport)
        apis.append(api)
        return Agent(
            api,
            spool or InMemoryReportSpool(),
            runner or FakeRunner(),
            settings=settings,
            clock=env.ctx.clock,
            source=probe,
        )

    yield make
    for api in apis:
        await api.close()
