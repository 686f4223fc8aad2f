"""The probe protocol over HTTP (in-process): poll, submit, heartbeat, and GET /v1/probes."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from adapters.memory import FakeClock
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.models import MeasurementReport
from cloudperf_core.protocol import DiscoveryReport, ReportSubmission
from cloudperf_core.reports import split_report
from cloudperf_core.service import directory
from tests.support.probe_env import (
    ProbeEnv,
    discovery_job,
    latency_job,
    probe_env,
    report_for,
)
from tests.unit.api.conftest import client_for
from tests.unit.api.test_app_skeleton import assert_error

_json = msgspec.json.Encoder()


@pytest.fixture
async def env(ctx: ApiContext) -> ProbeEnv:
    return await probe_env(ctx)


def _now(env: ProbeEnv) -> int:
    return env.ctx.clock.now_ms()


async def _poll(client: httpx.AsyncClient, env: ProbeEnv, probe: str, n: int = 5) -> Any:
    got = await client.post("/v1/probe/poll", json={"max_jobs": n}, headers=env.headers(probe))
    assert got.status_code == 200, got.text
    return got.json()


async def _submit(
    client: httpx.AsyncClient,
    env: ProbeEnv,
    probe: str,
    lease_id: str,
    report: MeasurementReport | None = None,
    discovery: DiscoveryReport | None = None,
) -> httpx.Response:
    body = _json.encode(ReportSubmission(lease_id=lease_id, report=report, discovery=discovery))
    return await client.post(
        "/v1/probe/reports",
        content=body,
        headers={**env.headers(probe), "content-type": "application/json"},
    )


async def _leased(client: httpx.AsyncClient, env: ProbeEnv, probe: str = "p1") -> str:
    [leased] = (await _poll(client, env, probe))["jobs"]
    return str(leased["lease_id"])


# --- poll -------------------------------------------------------------------------------------


async def test_poll_leases_the_jobs_of_the_probes_location(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    await env.issue(latency_job("j1"), latency_job("j2"), latency_job("j3", source="far"))

    first = await _poll(client, env, "p1", n=1)
    second = await _poll(client, env, "p2", n=5)  # same location: shares what is left
    third = await _poll(client, env, "p3", n=5)

    assert [j["job"]["job_id"] for j in first["jobs"]] == ["j1"]
    assert [j["job"]["job_id"] for j in second["jobs"]] == ["j2"]
    assert [j["job"]["job_id"] for j in third["jobs"]] == ["j3"]
    leased = first["jobs"][0]
    assert leased["job"]["kind"] == "latency" and leased["lease_expires_at_ms"] > 0
    assert first["paused"] is False and first["poll_after_s"] == 0.0
    empty = await _poll(client, env, "p1")
    assert empty["jobs"] == [] and empty["poll_after_s"] == env.ctx.settings.poll_idle_s
    counters = await env.ctx.services.counters()
    now = _now(env)
    assert sum(c for _, c in await counters.per_minute("jobs", 0, now + 60_000)) == 3
    assert [c for _, c in await counters.per_minute("jobs:p2", 0, now + 60_000)] == [1]


async def test_poll_hands_out_no_job_while_paused_and_never_more_than_the_cap(
    ctx: ApiContext, env: ProbeEnv
) -> None:
    await env.issue(*[latency_job(f"j{i}") for i in range(5)])
    catalog = await ctx.services.catalog()
    await directory.set_paused(catalog, True)
    capped = ApiContext(
        services=ctx.services,
        settings=msgspec.structs.replace(ctx.settings, max_jobs_per_poll=2),
        clock=ctx.clock,
        hasher=ctx.hasher,
    )
    async with client_for(create_app(capped)) as client:
        paused = await _poll(client, env, "p1")
        assert paused["jobs"] == [] and paused["paused"] is True
        assert await (await ctx.services.jobs()).depth("lab") == 5
        await directory.set_paused(catalog, False)
        assert len((await _poll(client, env, "p1", n=50))["jobs"]) == 2


async def test_probe_routes_need_an_enabled_probes_token(
    client: httpx.AsyncClient, env: ProbeEnv, ctx: ApiContext
) -> None:
    for path in ("/v1/probe/poll", "/v1/probe/reports", "/v1/probe/heartbeat"):
        assert_error(await client.post(path, json={}), 401, "unauthenticated")
        forged = {"Authorization": f"Bearer {env.tokens['p1'][:-4]}AAAA"}
        assert_error(await client.post(path, json={}, headers=forged), 401, "unauthenticated")
    await directory.set_probe_enabled(await ctx.services.catalog(), "p1", False)
    for path in ("/v1/probe/poll", "/v1/probe/reports", "/v1/probe/heartbeat"):
        got = await client.post(path, json={"max_jobs": 1}, headers=env.headers("p1"))
        assert_error(got, 403, "probe_disabled")
    # A session token is not a probe token, a probe token is not a session.
    assert_error(
        await client.post("/v1/probe/poll", json={}, headers=env.viewer()), 401, "unauthenticated"
    )
    assert_error(await client.get("/v1/probes", headers=env.headers("p2")), 401, "unauthenticated")


# --- submit -----------------------------------------------------------------------------------


async def test_an_accepted_report_is_queued_as_the_probe_under_its_namespaced_id(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = latency_job()
    await env.issue(job)
    lease_id = await _leased(client, env)
    report = report_for(job, "r1", started_at_ms=_now(env), source="someone-else")

    got = await _submit(client, env, "p1", lease_id, report)

    assert got.status_code == 202, got.text
    assert got.json() == {"report_id": "p1:r1"}
    [message] = await env.queued()
    assert message["kind"] == "latency"
    queued = msgspec.convert(message["report"], MeasurementReport)
    assert (queued.report_id, queued.source, queued.job_id) == ("p1:r1", "p1", "j1")
    assert await (await env.ctx.services.jobs()).depth("lab") == 0  # the lease was acked
    result = await env.drain()
    assert result.ingested == ["p1:r1"]
    assert await env.sent("p1") == 2 * 4 and await env.sent("someone-else") == 0


async def test_the_same_report_posted_twice_is_counted_once(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = latency_job()
    await env.issue(job)
    lease_id = await _leased(client, env)
    report = report_for(job, started_at_ms=_now(env))

    answers = [await _submit(client, env, "p1", lease_id, report) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["report_id"] for a in answers} == {"p1:r1"}
    assert len(await env.queued()) == 1
    counters = await env.ctx.services.counters()
    assert [c for _, c in await counters.per_minute("reports:p1", 0, _now(env) + 60_000)] == [1]
    await env.drain()
    assert await env.sent() == 2 * 4


async def test_a_report_comes_in_parts_for_one_lease(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = latency_job(targets=40)
    await env.issue(job)
    lease_id = await _leased(client, env)
    whole = report_for(job, started_at_ms=_now(env))
    parts = split_report(whole, 2000)
    assert len(parts) > 2

    ids = [(await _submit(client, env, "p1", lease_id, p)).json()["report_id"] for p in parts]

    assert ids == [f"p1:{p.report_id}" for p in parts]
    result = await env.drain()
    assert sorted(result.ingested) == sorted(ids)
    assert await env.sent("p1") == 40 * 4


async def test_a_report_bigger_than_a_queue_message_is_split_by_the_api(
    ctx: ApiContext, env: ProbeEnv
) -> None:
    small = ApiContext(
        services=ctx.services,
        settings=msgspec.structs.replace(ctx.settings, max_queued_report_bytes=4096),
        clock=ctx.clock,
        hasher=ctx.hasher,
    )
    job = latency_job(targets=60)
    await env.issue(job)
    async with client_for(create_app(small)) as client:
        lease_id = await _leased(client, env)
        report = report_for(job, started_at_ms=_now(env))
        got = await _submit(client, env, "p1", lease_id, report)
        again = await _submit(client, env, "p1", lease_id, report)
    assert got.status_code == again.status_code == 202
    messages = await env.queued()
    assert len(messages) > 1
    assert all(len(_json.encode(m)) <= 4096 for m in messages)
    await env.drain()
    assert await env.sent("p1") == 60 * 4


async def test_a_late_report_for_a_lapsed_lease_is_still_accepted(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = latency_job()
    await env.issue(job)
    lease_id = await _leased(client, env)
    jobs = await env.ctx.services.jobs()
    await jobs.extend(lease_id, 0)  # the lease lapses (the spool delivered late)

    got = await _submit(client, env, "p1", lease_id, report_for(job, started_at_ms=_now(env)))

    assert got.status_code == 202, got.text
    assert await jobs.depth("lab") == 1  # the job itself is back on the queue, not lost


async def test_every_refusal_is_a_4xx_with_its_code_and_queues_nothing(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job, disc = latency_job(), discovery_job()
    await env.issue(job, disc)
    leases = {j["job"]["job_id"]: j["lease_id"] for j in (await _poll(client, env, "p1"))["jobs"]}
    lease, disc_lease = leases["j1"], leases["d1"]
    now, skew_ms = _now(env), env.ctx.settings.clock_skew_s * 1000
    good = report_for(job, started_at_ms=now)

    def variant(**changes: Any) -> MeasurementReport:
        return msgspec.structs.replace(good, **changes)

    cases: list[tuple[str, str | None, MeasurementReport | None, int, str]] = [
        ("p1", "no-such-lease", good, 404, "unknown_lease"),
        ("p2", lease, good, 409, "foreign_lease"),
        (
            "p1",
            lease,
            variant(spec=msgspec.structs.replace(job.spec, count=5)),
            422,
            "spec_mismatch",
        ),
        (
            "p1",
            lease,
            variant(spec=msgspec.structs.replace(job.spec, targets=("10.231.0.99",)), results=[]),
            422,
            "spec_mismatch",
        ),
        ("p1", lease, variant(job_id="j2"), 422, "spec_mismatch"),
        ("p1", disc_lease, good, 422, "spec_mismatch"),
        ("p1", lease, variant(started_at_ms=now - skew_ms - 1), 422, "clock_skew"),
        ("p1", lease, variant(started_at_ms=now + skew_ms + 1), 422, "clock_skew"),
        ("p1", lease, variant(report_id="bad id"), 422, "invalid_report"),
        ("p1", lease, variant(report_id="x" * 126), 422, "invalid_report"),  # p1: + 126 > 128
        (
            "p1",
            lease,
            variant(results=[msgspec.structs.replace(good.results[0], received=5)]),
            422,
            "invalid_report",
        ),
        ("p1", lease, None, 400, "invalid"),  # neither report nor discovery
    ]
    for probe, lease_id, report, status, code in cases:
        got = await _submit(client, env, probe, lease_id or "", report)
        assert_error(got, status, code)
    both = await _submit(
        client,
        env,
        "p1",
        lease,
        good,
        DiscoveryReport(report_id="x", started_at_ms=now, spec=disc.spec, found=[]),
    )
    assert_error(both, 400, "invalid")
    assert_error(
        await client.post(
            "/v1/probe/reports",
            content=b'{"lease_id": "a b"}',
            headers={**env.headers("p1"), "content-type": "application/json"},
        ),
        400,
        "invalid_body",
    )
    assert_error(
        await client.post("/v1/probe/reports", content=b"{}", headers={**env.headers("p1")}),
        415,
        "unsupported_media_type",
    )
    huge = b'{"lease_id": "' + b"x" * env.ctx.settings.max_body_bytes + b'"}'
    assert_error(
        await client.post(
            "/v1/probe/reports",
            content=huge,
            headers={**env.headers("p1"), "content-type": "application/json"},
        ),
        413,
        "body_too_large",
    )
    assert await env.queued() == []
    # The good report is still welcome; the same id with other content afterwards is not.
    assert (await _submit(client, env, "p1", lease, good)).status_code == 202
    other = variant(
        results=[msgspec.structs.replace(good.results[0], received=2, rtts_us=[1, None, None, 3])]
    )
    assert_error(await _submit(client, env, "p1", lease, other), 409, "report_conflict")
    assert len(await env.queued()) == 1


async def test_the_skew_window_starts_at_the_lease_not_at_the_report(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = latency_job()
    await env.issue(job)
    lease_id = await _leased(client, env)
    leased_at = _now(env)
    assert isinstance(env.ctx.clock, FakeClock)
    env.ctx.clock.advance(3600)  # the spool delivers an hour later

    late = report_for(job, started_at_ms=leased_at + 1000)
    assert (await _submit(client, env, "p1", lease_id, late)).status_code == 202
    early = report_for(job, "r2", started_at_ms=leased_at - 301_000)
    assert_error(await _submit(client, env, "p1", lease_id, early), 422, "clock_skew")


# --- discovery --------------------------------------------------------------------------------


async def test_a_discovery_report_is_recorded_by_the_worker_once(
    client: httpx.AsyncClient, env: ProbeEnv
) -> None:
    job = discovery_job(cidr="10.231.0.0/29")
    await env.issue(job)
    lease_id = await _leased(client, env)
    found = DiscoveryReport(
        report_id="s1",
        started_at_ms=_now(env),
        spec=job.spec,
        found=["10.231.0.2", "10.231.0.5", "10.231.0.2"],
    )
    got = await _submit(client, env, "p1", lease_id, discovery=found)
    again = await _submit(client, env, "p1", lease_id, discovery=found)

    assert got.status_code == again.status_code == 202
    assert got.json() == {"report_id": "p1:s1"}
    [message] = await env.queued()
    assert message["kind"] == "discovery" and message["probe_id"] == "p1"
    result = await env.drain()
    assert result.ingested == ["p1:s1"] and not result.failed
    catalog = await env.ctx.services.catalog()
    reachable = await catalog.reachable_addresses("lab")
    assert [a.address for a in reachable] == ["10.231.0.2", "10.231.0.5"]


@pytest.mark.parametrize(
    ("found", "why"),
    [
        (["10.231.0.9"], "outside"),  # the job's range is 10.231.0.0/29
        (["fd00:231::1"], "outside"),
        (["not-an-address"], "not an IP address"),
        ([f"10.231.0.{i}" for i in range(9)], "max_hosts"),
    ],
)
async def test_a_discovery_report_must_stay_inside_its_job(
    client: httpx.AsyncClient, env: ProbeEnv, found: list[str], why: str
) -> None:
    job = discovery_job(cidr="10.231.0.0/29")
    await env.issue(job)
    lease_id = await _leased(client, env)
    report = DiscoveryReport(report_id="s1", started_at_ms=_now(env), spec=job.spec, found=found)

    body = assert_error(
        await _submit(client, env, "p1", lease_id, discovery=report), 422, "invalid_report"
    )

    assert why in body["detail"]
    other_spec = msgspec.structs.replace(report, spec=discovery_job(cidr="10.231.0.0/28").spec)
    assert_error(
        await _submit(client, env, "p1", lease_id, discovery=other_spec), 422, "spec_mismatch"
    )
    assert await env.queued() == []


# --- heartbeat and GET /v1/probes -------------------------------------------------------------


async def test_heartbeat_and_the_probe_list(client: httpx.AsyncClient, env: ProbeEnv) -> None:
    job = latency_job("j1")
    await env.issue(job, latency_job("j2"))
    leases = {j["job"]["job_id"]: j["lease_id"] for j in (await _poll(client, env, "p1"))["jobs"]}
    report = report_for(job, started_at_ms=_now(env))
    assert (await _submit(client, env, "p1", leases["j1"], report)).status_code == 202
    beat = {"fping_can_send": False, "agent_version": "0.1.0", "jobs_running": 2}
    got = await client.post("/v1/probe/heartbeat", json=beat, headers=env.headers("p1"))
    assert got.status_code == 204 and got.content == b""

    assert isinstance(env.ctx.clock, FakeClock)
    env.ctx.clock.advance(60)  # the rates count complete minutes
    listed = await client.get("/v1/probes", headers=env.viewer())

    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"] == "no-store"
    probes = {p["probe_id"]: p for p in listed.json()["probes"]}
    assert list(probes) == ["p1", "p2", "p3"]
    p1, p2 = probes["p1"], probes["p2"]
    assert (p1["online"], p1["last_seen_ms"], p1["location"]) == (True, _now(env) - 60_000, "lab")
    assert (p1["fping_can_send"], p1["agent_version"], p1["jobs_running"]) == (False, "0.1.0", 2)
    assert (p1["jobs_per_minute"], p1["reports_per_minute"]) == (2 / 5, 1 / 5)
    assert (p2["online"], p2["last_seen_ms"], p2["fping_can_send"]) == (False, None, None)
    catalog = await env.ctx.services.catalog()
    stored = await catalog.get_probe("p1")
    assert stored is not None and stored.last_seen_ms == p1["last_seen_ms"]  # durable

    env.ctx.clock.advance(env.ctx.settings.probe_online_s)
    later = (await client.get("/v1/probes?limit=1", headers=env.viewer())).json()
    assert [p["probe_id"] for p in later["probes"]] == ["p1"]
    assert later["probes"][0]["online"] is False and later["next_after"] == "p1"
    rest = (await client.get("/v1/probes?after=p1", headers=env.viewer())).json()
    assert [p["probe_id"] for p in rest["probes"]] == ["p2", "p3"] and rest["next_after"] is None
    assert_error(await client.get("/v1/probes"), 401, "unauthenticated")
    assert_error(await client.get("/v1/probes?limit=0", headers=env.viewer()), 400, "invalid_query")


async def test_the_openapi_document_lists_the_probe_protocol(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/v1/openapi.json")).json()
    submit = doc["paths"]["/v1/probe/reports"]["post"]
    assert {"202", "401", "403", "404", "409", "413", "415", "422"} <= set(submit["responses"])
    assert submit["security"] == [{"probeToken": []}]
    assert "get" in doc["paths"]["/v1/probes"]
