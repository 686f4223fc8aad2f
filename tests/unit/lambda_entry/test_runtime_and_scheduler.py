"""One event loop and one Services per container, the database secret read once, handler
modules that import no adapter; the scheduler handler on EventBridge Scheduler events."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudperf_core.bootstrap import Services
from cloudperf_core.catalog import AddressRange, DiscoverySweep, Location, Probe
from cloudperf_core.errors import BackendUnavailableError
from lambda_entry import _runtime, scheduler
from lambda_entry._runtime import Runtime
from tests.support.lambda_events import LambdaContext, scheduled_event

ROOT = Path(__file__).resolve().parents[3]
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudperf-db-AbCdEf"
HANDLERS = ("api", "worker", "scheduler", "admin")


def test_every_invocation_runs_on_the_containers_one_loop_and_services(lambda_env: str) -> None:
    async def seen(services: Services) -> tuple[asyncio.AbstractEventLoop, Services]:
        return asyncio.get_running_loop(), services

    first, second = _runtime.call(seen), _runtime.call(seen)
    assert first[0] is second[0] and first[1] is second[1]
    assert first[1].config.store == lambda_env


def test_the_database_secret_is_read_once_per_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLOUDPERF_STORE", raising=False)
    monkeypatch.delenv("CLOUDPERF_CATALOG", raising=False)
    monkeypatch.setenv("CLOUDPERF_DB_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("CLOUDPERF_DB_NAME", "cloudperf")
    monkeypatch.setenv("CLOUDPERF_DB_OPTIONS", "pool_size=2&connect_timeout_s=5")
    asked: list[str] = []
    answers: list[str | Exception] = [
        BackendUnavailableError("secrets manager: cannot reach it"),
        '{"username": "app", "password": "p@ss/word", "host": "db.example", "port": 3306}',
    ]

    async def fetch(arn: str) -> str:
        asked.append(arn)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    container = Runtime(fetch_secret=fetch)
    try:
        # A failed fetch leaves nothing half-made: the next invocation asks again.
        with pytest.raises(BackendUnavailableError):
            container.run(container.services)
        services = container.run(container.services)
        assert container.run(container.services) is services
        assert asked == [SECRET_ARN, SECRET_ARN]
        assert services.config.store == (
            "mysql://app:p%40ss%2Fword@db.example:3306/cloudperf?pool_size=2&connect_timeout_s=5"
        )
        assert services.opened == ()  # nothing connects before a handler needs it
    finally:
        container.close()


@pytest.mark.parametrize("name", HANDLERS)
def test_a_handler_module_imports_no_adapter_or_driver(name: str) -> None:
    heavy = {"adapters", "asyncmy", "redis", "aiobotocore", "aiohttp", "numpy", "starlette"}
    done = subprocess.run(
        [
            sys.executable, "-c",
            f"import sys, lambda_entry.{name} as m\nassert callable(m.handler)\n"
            "print(sorted({n.split('.')[0] for n in sys.modules}))",
        ],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert heavy.isdisjoint(json.loads(done.stdout.replace("'", '"')))


def seed_a_live_probe(now_ms: int) -> None:
    fra = Location(name="AS64500 DE Frankfurt", country_code="DE", city="Frankfurt", asn=64500)
    syd = Location(name="AS64501 AU Sydney", country_code="AU", city="Sydney", asn=64501)

    async def seed(services: Services) -> None:
        catalog = await services.catalog()
        await catalog.put_locations([fra, syd])
        await catalog.put_ranges(
            [AddressRange(start="10.231.7.0", end="10.231.7.255", location=syd.name)]
        )
        await catalog.record_sweep(
            DiscoverySweep(
                report_id="sweep-1", start="10.231.7.0", end="10.231.7.255",
                found=("10.231.7.20", "10.231.7.10"), at_ms=now_ms,
            )
        )  # fmt: skip
        await catalog.put_probe(Probe(probe_id="fra-1", token_hash="0" * 64, location=fra.name))
        await (await services.liveness()).seen("fra-1", now_ms)

    _runtime.call(seed)


@pytest.mark.parametrize("event", [{}, scheduled_event()], ids=["scheduler-input", "rule"])
def test_a_tick_issues_the_jobs_a_source_has_room_for(
    lambda_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    event: dict[str, object],
) -> None:
    # Room for one job per source: the second tick finds it full (whether or not it runs in
    # the same slot, where it would find the slot claimed too).
    monkeypatch.setenv("CLOUDPERF_BACKPRESSURE_DEPTH", "1")
    context = LambdaContext(function_name="cloudperf-scheduler")
    seed_a_live_probe(int(time.time() * 1000))
    capfd.readouterr()

    first = scheduler.handler(event, context)
    again = scheduler.handler(event, context)

    assert first["sources"] == ["AS64500 DE Frankfurt"] and first["latency_jobs"] == 1
    assert first["paused"] is False and first["destinations"] == 1
    assert (again["latency_jobs"], again["discovery_jobs"]) == (0, 0)
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf[0]["LatencyJobsIssued"] == [1.0] and emf[0]["LiveSources"] == [1.0]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cloudperf"

    async def depth(services: Services) -> int:
        return await (await services.jobs()).depth("AS64500 DE Frankfurt")

    assert _runtime.call(depth) == 1
