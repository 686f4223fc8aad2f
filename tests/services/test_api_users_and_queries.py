"""The user-facing API over real backends: a SQLite store and catalogue, Redis sessions,
counters and cache. Login, a query checked against the raw samples, the rate limit, a
password change ending the old session, status and places with data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.clock import SystemClock
from cloudperf_core.service import directory
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url
from tests.unit.api.conftest import CHEAP, client_for
from tests.unit.api.seeding import PROBES, close_ms, exact, seed

PASSWORD = "correct horse battery"


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ApiContext]:
    prefix = fresh_prefix()
    settings = msgspec.structs.replace(CHEAP, login_failures_per_user=3)
    config = Config(
        store=f"sqlite:///{tmp_path / 'cp.db'}",
        jobs=f"memory://{uuid.uuid4().hex}",
        reports=f"memory://{uuid.uuid4().hex}",
        cache=redis_url(prefix),
        settings=settings,
    )
    try:
        async with Services(config) as services:
            yield ApiContext(
                services=services,
                settings=settings,
                clock=SystemClock(),
                hasher=PasswordHasher(settings),
            )
    finally:
        await delete_prefix(prefix)


async def test_login_then_query_on_sqlite_and_redis(ctx: ApiContext) -> None:
    world = await seed(ctx)
    catalog = await ctx.services.catalog()
    await directory.create_user(catalog, ctx.password_hasher(), "ana", PASSWORD, "viewer")
    client: httpx.AsyncClient = client_for(create_app(ctx))

    got = await client.post("/v1/login", json={"username": "ana", "password": PASSWORD})
    assert got.status_code == 200, got.text
    token = got.json()["token"]
    headers = {"authorization": f"Bearer {token}"}
    client.cookies.clear()

    got = await client.get("/v1/latency", params={"group_by": "source"}, headers=headers)
    assert got.status_code == 200, got.text
    rows = got.json()["items"]
    assert [r["source"] for r in rows] == sorted(PROBES)
    for row in rows:
        want = exact(world.where(probes={row["source"]}, since_s=world.last_hour()))
        assert (row["sent"], row["received"], row["duplicates"]) == (
            want.sent, want.received, want.duplicates,
        )  # fmt: skip
        assert close_ms(row["avg_ms"], want.mean_us, rel=1e-9)
        assert close_ms(row["p95_ms"], want.quantile_us(0.95), rel=0.01)

    # Places with data come from the SQLite store; the rest of the status from Redis.
    got = await client.get("/v1/countries", params={"with_data": "true"}, headers=headers)
    assert [p["key"] for p in got.json()["items"]] == ["AU", "NZ", "US"]
    got = await client.get("/v1/status", headers=headers)
    assert got.status_code == 200 and got.json()["data"]["pairs"] == 18

    # Failed logins counted in Redis; a password change ends the first session there.
    for _ in range(3):
        bad = await client.post("/v1/login", json={"username": "ana", "password": "guess"})
        assert bad.status_code == 401
    limited = await client.post("/v1/login", json={"username": "ana", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    change = {"old_password": PASSWORD, "new_password": "a brand new password"}
    got = await client.post("/v1/password", json=change, headers=headers)
    assert got.status_code == 200, got.text
    new_headers = {"authorization": f"Bearer {got.json()['token']}"}
    client.cookies.clear()
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
    assert (await client.get("/v1/me", headers=new_headers)).json()["user"] == "ana"
    assert (await client.post("/v1/logout", headers=new_headers)).status_code == 204
    assert (await client.get("/v1/me", headers=new_headers)).status_code == 401
