"""The probe API under load: reports accepted per second through ``cloudperf serve``, and poll
latency with 200 probes polling at once.

Both servers run as separate processes under uvicorn on loopback with the same server
settings: ``cloudperf serve`` (its default worker and scheduler running: SQLite store and
catalogue, in-process reports queue and cache; the job queue on the local Redis under a
fresh key prefix, so that this process can issue the jobs the probes lease), and the
baseline, a bare Starlette app whose two routes answer 202 (reports) and 200 (polls) without
doing anything. The same client drives both in the same run: one ``httpx.AsyncClient`` with
``C`` concurrent tasks.

- Accept: ``P`` registered probes lease jobs (50 targets x 10 probes, the default latency job)
  through ``/v1/probe/poll``; then every lease gets its report (about 7 KB of JSON) posted to
  ``/v1/probe/reports``, ``C`` at a time. Each is checked against its lease, queued and
  acknowledged; the worker stores them meanwhile. The same bodies go to the bare endpoint.
  Reported: accepted per second of each, and the ratio (budget: serve costs at most 2x).
- Poll: 200 registered probes poll at once, ``R`` rounds each (an empty queue: the common
  case); p50/p99 of one poll, against the bare endpoint polled the same way.

Synthetic data only: the jobs' targets are test-host addresses (10.231.0.0/24) that nothing
probes here (no agent runs). Documentation ranges are not used for jobs.

    python -m benchmarks.bench_api [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import Location
from cloudperf_core.cli.serve import GRACEFUL_SHUTDOWN_S
from cloudperf_core.clock import SystemClock
from cloudperf_core.models import Job, MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.protocol import PollResponse, ReportSubmission
from cloudperf_core.reports import new_report_id
from cloudperf_core.service import directory
from cloudperf_core.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("CLOUDPERF_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BUDGET_RATIO = 2.0
LOCATION = "bench"
POLL_PROBES = 200
LISTENING = re.compile(r"cloudperf serve: listening on (http://127\.0\.0\.1:\d+)\n")
_DEFAULTS = ServiceSettings()


def latency_job(i: int) -> Job:
    targets = tuple(f"10.231.0.{t + 1}" for t in range(_DEFAULTS.latency_targets))
    spec = ProbeSpec(
        targets=targets,
        count=_DEFAULTS.latency_count,
        period_ms=_DEFAULTS.latency_period_ms,
        timeout_ms=_DEFAULTS.latency_timeout_ms,
    )
    return Job(job_id=f"bench-{i}", source=LOCATION, spec=spec)


def report_body(lease_id: str, job: Job, now_ms: int) -> bytes:
    """A plausible report of ``job``: one probe in ten lost, RTTs around 20 ms."""
    results = [
        TargetResult(
            target=t,
            sent=job.spec.count,
            received=job.spec.count - 1,
            rtts_us=[None if k == 3 else 20_000 + 37 * k + 11 * n for k in range(job.spec.count)],
        )
        for n, t in enumerate(job.spec.targets)
    ]
    report = MeasurementReport(
        report_id=new_report_id(),
        source="unused",
        started_at_ms=now_ms,
        finished_at_ms=now_ms + 10_000,
        spec=job.spec,
        results=results,
        job_id=job.job_id,
    )
    return msgspec.json.encode(ReportSubmission(lease_id=lease_id, report=report))


# --- the baseline server -------------------------------------------------------------------


async def _bare_report(request: Request) -> Response:
    await request.body()
    return Response(b'{"report_id":"bare"}', status_code=202, media_type="application/json")


async def _bare_poll(request: Request) -> Response:
    await request.body()
    body = b'{"jobs":[],"paused":false,"poll_after_s":5.0}'
    return Response(body, media_type="application/json")


def bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/probe/reports", _bare_report, methods=["POST"]),
            Route("/v1/probe/poll", _bare_poll, methods=["POST"]),
        ]
    )


def serve_bare() -> int:
    """``python -m benchmarks.bench_api --bare-server``: the baseline, as serve runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # as cloudperf serve
    print(f"cloudperf serve: listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            bare_app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )  # the settings of cloudperf serve (cloudperf_core/cli/serve.py)
    )
    server.run(sockets=[sock])
    return 0


# --- processes -------------------------------------------------------------------------------


def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = LISTENING.fullmatch(line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"{argv} did not start: {line!r}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- load -------------------------------------------------------------------------------------


async def set_up(config: Config, probes: int, jobs: int) -> list[str]:
    """A location, ``probes`` probes there (their tokens) and ``jobs`` latency jobs queued."""
    async with Services(config) as services:
        catalog = await services.catalog()
        await catalog.put_locations([Location(name=LOCATION)])
        tokens = []
        for i in range(probes):
            _, token = await directory.register_probe(
                catalog, catalog, SystemClock(), f"bench-{i}", LOCATION
            )
            tokens.append(token)
        queue = await services.jobs()
        for first in range(0, jobs, 500):
            await queue.issue([latency_job(i) for i in range(first, min(jobs, first + 500))])
        return tokens


async def lease_all(url: str, tokens: list[str], wanted: int) -> list[bytes]:
    """Poll until ``wanted`` jobs are leased; a report body for each lease."""
    bodies: list[bytes] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        i = 0
        while len(bodies) < wanted:
            token = tokens[i % len(tokens)]
            i += 1
            answer = await client.post(
                "/v1/probe/poll",
                json={"max_jobs": 50},
                headers={"Authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()
            leased = msgspec.json.decode(answer.content, type=PollResponse).jobs
            if not leased:
                raise RuntimeError(f"the queue ran dry after {len(bodies)} leases")
            now_ms = SystemClock().now_ms()
            for held in leased:
                assert isinstance(held.job, Job)
                # A report comes from the probe that holds its lease: the token goes with it.
                body = report_body(held.lease_id, held.job, now_ms)
                bodies.append(token.encode() + b"\n" + body)
    return bodies


#: A keep-alive connection the server closes just as the client reuses it (uvicorn closes
#: idle ones after 5 s; on a loaded machine a poll can wait that long): sent again, counted.
RETRIED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)
retries = {"count": 0}


async def post(client: httpx.AsyncClient, path: str, body: bytes, token: str) -> httpx.Response:
    """POST with a probe token; once more on a connection closed under it (both routes are
    safe to repeat: a report id is accepted once, and an empty queue leases nothing)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        return await client.post(path, content=body, headers=headers)
    except RETRIED:
        retries["count"] += 1
        return await client.post(path, content=body, headers=headers)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int) -> None:
    """Wait until the process is idle (under 10 ms of CPU in half a second)."""
    while True:
        before = cpu_s(pid)
        time.sleep(0.5)
        if cpu_s(pid) - before < 0.01:
            return


async def post_all(url: str, items: list[bytes], concurrency: int) -> tuple[float, int]:
    """Post every report, ``concurrency`` at a time: (seconds, accepted)."""
    pending = list(reversed(items))
    accepted = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal accepted
            while pending:
                token, body = pending.pop().split(b"\n", 1)
                answer = await post(client, "/v1/probe/reports", body, token.decode())
                if answer.status_code != 202:
                    raise RuntimeError(f"report refused: {answer.status_code} {answer.text}")
                accepted += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, accepted


async def poll_latencies(url: str, tokens: list[str], rounds: int) -> list[float]:
    """Every probe polls ``rounds`` times, all probes at once: each poll's seconds."""
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def probe(token: str) -> None:
            for _ in range(rounds + 1):
                started = time.perf_counter()
                answer = await post(client, "/v1/probe/poll", b'{"max_jobs":1}', token)
                took = time.perf_counter() - started
                if answer.status_code != 200:
                    raise RuntimeError(f"poll refused: {answer.status_code} {answer.text}")
                times.append(took)

        await asyncio.gather(*(probe(t) for t in tokens))
    return times[len(tokens) :]  # the first round opens the connections


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


async def delete_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


SERVERS = {"bare": "bare Starlette 202", "serve": "cloudperf serve",
           "no_worker": "cloudperf serve --no-worker"}  # fmt: skip


def run(quick: bool) -> dict[str, Any]:
    reports = 300 if quick else 600
    rounds = 2 if quick else 4
    concurrency = 32
    repeats = 2
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    prefix = f"cpbench:{uuid.uuid4().hex}:"
    store = f"sqlite:///{folder / 'cloudperf.db'}"
    env = dict(os.environ, CLOUDPERF_STORE=store, CLOUDPERF_JOBS=f"{REDIS_URL}?prefix={prefix}")
    for name in ("CLOUDPERF_CATALOG", "CLOUDPERF_REPORTS", "CLOUDPERF_CACHE"):
        env.pop(name, None)
    tokens = asyncio.run(set_up(Config.from_env(env), POLL_PROBES, 3 * reports * repeats))
    script = shutil.which("cloudperf")
    cli = [script] if script else [sys.executable, "-m", "cloudperf_core.cli.main"]
    argv = {
        "bare": [sys.executable, "-m", "benchmarks.bench_api", "--bare-server"],
        "serve": [*cli, "serve", "--port", "0"],
        "no_worker": [*cli, "serve", "--port", "0", "--no-worker", "--no-scheduler"],
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    urls: dict[str, str] = {}
    rate: dict[str, list[float]] = {name: [] for name in SERVERS}
    cpu_ms: dict[str, list[float]] = {name: [] for name in SERVERS}  # server CPU per report
    try:
        for name in SERVERS:
            procs[name], urls[name] = start(argv[name], env)
        for _ in range(repeats):
            for name in SERVERS:
                # Leases come from the server that will accept the reports (its own cache
                # holds the lease ledger); the bare endpoint gets the first serve's bodies.
                lessor = "serve" if name == "bare" else name
                items = asyncio.run(lease_all(urls[lessor], tokens[:concurrency], reports))
                before = cpu_s(procs[name].pid)
                seconds, accepted = asyncio.run(post_all(urls[name], items, concurrency))
                settle(procs[name].pid)  # the worker has stored what it took
                cpu_ms[name].append((cpu_s(procs[name].pid) - before) * 1000 / accepted)
                rate[name].append(accepted / seconds)
        polls = {
            name: asyncio.run(poll_latencies(urls[name], tokens, rounds))
            for name in ("bare", "serve")
        }
    finally:
        for proc in procs.values():
            stop(proc)
        asyncio.run(delete_prefix(prefix))
    best = {name: max(r) for name, r in rate.items()}
    cost = {name: min(c) for name, c in cpu_ms.items()}
    poll = {
        name: {"p50_ms": quantile(t, 0.5) * 1000, "p99_ms": quantile(t, 0.99) * 1000}
        for name, t in polls.items()
    }
    print(
        f"reports: {reports} per run x {repeats} runs, {concurrency} concurrent posts "
        f"(one httpx.AsyncClient); polls: {POLL_PROBES} probes x {rounds} rounds at once; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        f"{retries['count']} request(s) sent again on a connection closed under them"
    )
    print(f"{'server':30} {'accepted/s':>10} {'x bare':>7} {'CPU ms/report':>14} {'x bare':>7}")
    for name, label in SERVERS.items():
        print(
            f"{label:30} {best[name]:10.0f} {best['bare'] / best[name]:7.2f} "
            f"{cost[name]:14.2f} {cost[name] / cost['bare']:7.2f}"
        )
    for name in ("bare", "serve"):
        print(
            f"poll, {POLL_PROBES} probes at once, {SERVERS[name]:26} "
            f"p50 {poll[name]['p50_ms']:7.1f} ms  p99 {poll[name]['p99_ms']:7.1f} ms"
        )
    ratio = best["bare"] / best["serve"]
    verdict = "within" if ratio <= BUDGET_RATIO else "OVER"
    print(
        f"accepting a report through cloudperf serve: {ratio:.2f}x the bare endpoint's time "
        f"({verdict} the 2x budget); server CPU per report {cost['serve'] / cost['bare']:.2f}x "
        f"(worker storing included), {cost['no_worker'] / cost['bare']:.2f}x without the worker"
    )
    result = {
        "reports_per_run": reports,
        "repeats": repeats,
        "concurrency": concurrency,
        "accepted_per_s": rate,
        "server_cpu_ms_per_report": cpu_ms,
        "time_ratio": ratio,
        "cpu_ratio": cost["serve"] / cost["bare"],
        "cpu_ratio_no_worker": cost["no_worker"] / cost["bare"],
        "budget_ratio": BUDGET_RATIO,
        "poll_probes": POLL_PROBES,
        "poll_rounds": rounds,
        "poll": poll,
        "load_average": os.getloadavg()[0],
        "retried_requests": retries["count"],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_api")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.bare_server:
        return serve_bare()
    run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
