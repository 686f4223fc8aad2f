"""`cloudperf probe` as a user runs it: a separate process against the API under uvicorn,
real fping to loopback only (127.0.0.1). One round with --once; SIGTERM mid-job; the API
going away while a job runs, the agent restarted, everything delivered once afterwards; an
fping without raw-socket permission."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import pytest

from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.backends import PORTS
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.clock import SystemClock
from cloudperf_core.models import Job, ProbeSpec
from cloudperf_core.protocol import ProbeView
from cloudperf_core.service import probes
from cloudperf_core.settings import ServiceSettings
from tests.e2e.test_cli_hardening import CLI, _alive, _fping_children
from tests.support.api_server import ApiServer
from tests.support.probe_env import ProbeEnv, probe_env

pytestmark = pytest.mark.runner
T = TypeVar("T")
WAIT_S = 30  # upper bound for things that take a second or two; never reached when it works
CHEAP = ServiceSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)


def loopback_job(job_id: str, *, count: int, period_ms: int = 50) -> Job:
    spec = ProbeSpec(targets=("127.0.0.1",), count=count, period_ms=period_ms, timeout_ms=500)
    return Job(job_id=job_id, source="lab", spec=spec)


@dataclass
class Api:
    server: ApiServer
    env: ProbeEnv
    token_file: Path
    spool: Path

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(*args)`` from this (synchronous) test."""
        return anyio.run(fn, *args)

    def agent(self, *extra: str, verbose: bool = False) -> list[str]:
        return [
            *CLI,
            *(["-v"] if verbose else []),
            "probe",
            "--api",
            self.server.url,
            "--token-file",
            str(self.token_file),
            "--spool",
            str(self.spool),
            *extra,
        ]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    name = uuid.uuid4().hex
    config = Config(
        store=f"memory://{name}",
        jobs=f"memory://{name}",
        reports=f"memory://{name}",
        cache=f"memory://{name}",
        settings=CHEAP,
    )
    services = Services(config)
    # The probe runs on the real clock: so does the API.
    ctx = ApiContext(
        services=services, settings=CHEAP, clock=SystemClock(), hasher=PasswordHasher(CHEAP)
    )
    env = anyio.run(probe_env, ctx)
    anyio.run(services.open, *PORTS)  # opened here, so the server thread never opens one
    token_file = tmp_path / "token"
    token_file.write_text(env.tokens["p1"] + "\n")
    token_file.chmod(0o600)
    server = ApiServer(ctx)
    server.start()
    try:
        yield Api(server, env, token_file, tmp_path / "spool.db")
    finally:
        server.stop()
        anyio.run(services.aclose)


class Lines:
    """A child's stderr, read line by line in a thread, waited on by pattern."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stderr is not None
        threading.Thread(target=self._read, args=(proc.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        pytest.fail(f"never saw {text!r}; stderr so far:\n{''.join(self.seen)}")

    def rest(self) -> str:
        time.sleep(0.2)
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


def _start(argv: list[str]) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    return proc, Lines(proc)


def test_once_measures_loopback_and_the_report_is_stored(api: Api) -> None:
    api.run(api.env.issue, loopback_job("j1", count=3))

    done = subprocess.run(api.agent("--once"), capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "1 job(s) run, 0 failed; 1 report(s) delivered, 0 refused" in done.stdout
    assert "0 waiting in the spool" in done.stdout
    api.server.stop()
    result = api.run(api.env.drain)
    assert len(result.ingested) == 1 and result.ingested[0].startswith("p1:")
    assert api.run(api.env.sent, "p1") == 3


def test_sigterm_stops_the_agent_mid_job_and_its_lease_is_left_to_lapse(api: Api) -> None:
    api.run(api.env.issue, loopback_job("long", count=97, period_ms=100))  # ~10 s of probing
    proc, lines = _start(api.agent(verbose=True))
    try:
        lines.wait_for("running latency job long")
        children: set[int] = set()
        deadline = time.monotonic() + WAIT_S
        while not children and time.monotonic() < deadline:
            children = _fping_children(proc.pid)
            time.sleep(0.02)
        assert children, "fping never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT_S)
    finally:
        proc.kill()
    err = lines.rest()
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM; 0 report(s) wait in the spool" in err
    assert "Traceback" not in err
    assert not any(_alive(pid) for pid in children), "fping outlived the agent"
    api.server.stop()
    assert api.run(api.env.queued) == []  # nothing reported for the unfinished job
    jobs = api.run(api.env.ctx.services.jobs)
    assert api.run(jobs.depth, "lab") == 1  # still leased: it lapses, then runs elsewhere


def test_an_api_outage_and_an_agent_restart_lose_nothing_and_count_nothing_twice(
    api: Api,
) -> None:
    api.run(api.env.issue, loopback_job("j1", count=20, period_ms=100))  # ~2 s of probing
    fast = ["--poll-s", "0.05", "--backoff-s", "0.05", "--backoff-cap-s", "0.2"]
    proc, lines = _start(api.agent(*fast, verbose=True))
    try:
        lines.wait_for("running latency job j1")
        api.server.stop()  # the API goes away while the job runs
        lines.wait_for("delivery failed")
        proc.send_signal(signal.SIGTERM)  # and the agent is restarted meanwhile
        proc.wait(timeout=WAIT_S)
    finally:
        proc.kill()
    assert "stopped by SIGTERM; 1 report(s) wait in the spool" in lines.rest()

    api.server.start()  # back, on the same address
    first = subprocess.run(api.agent("--once"), capture_output=True, text=True, timeout=120)
    again = subprocess.run(api.agent("--once"), capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    assert "1 report(s) delivered" in first.stdout and "0 waiting" in first.stdout
    assert "0 report(s) delivered" in again.stdout
    api.server.stop()
    result = api.run(api.env.drain)
    assert len(result.ingested) == 1 and result.duplicates == []
    assert api.run(api.env.sent, "p1") == 20


def test_an_fping_without_raw_socket_permission_is_reported_never_measured_as_loss(
    api: Api, tmp_path: Path
) -> None:
    setpriv, fping = shutil.which("setpriv"), shutil.which("fping")
    if os.geteuid() != 0 or setpriv is None or fping is None:
        pytest.skip("needs root, setpriv (util-linux) and fping to take the capability away")
    # A copy of fping without its file capability, in a process without CAP_NET_RAW: the
    # machine of a user who skipped the setcap step.
    bare = tmp_path / "fping"
    shutil.copy(fping, bare)
    api.run(api.env.issue, loopback_job("j1", count=3))
    without_raw = [setpriv, "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--"]

    done = subprocess.run(
        [*without_raw, *api.agent("--once")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLOUDPERF_FPING": str(bare)},
    )

    assert done.returncode == 1, done.stderr
    assert "fping cannot send probes: no job was taken" in done.stderr
    assert "0 job(s) run" in done.stdout
    api.server.stop()
    assert api.run(api.env.queued) == []
    status = api.run(_status_of, api.env, "p1")
    assert status.fping_can_send is False and status.online is True
    jobs = api.run(api.env.ctx.services.jobs)
    [leased] = api.run(jobs.lease, "lab", 1, 60)  # never taken: still there for others
    assert leased.job.job_id == "j1" and leased.deliveries == 1


async def _status_of(env: ProbeEnv, probe: str) -> ProbeView:
    services = env.ctx.services
    listing = await probes.list_probes(
        directory=await services.catalog(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        counters=await services.counters(),
        clock=env.ctx.clock,
        settings=env.ctx.settings,
    )
    return next(p for p in listing.probes if p.probe_id == probe)
