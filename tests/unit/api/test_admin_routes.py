"""Admin routes: register a probe (its token once), rotate, disable, enable, pause, resume;
only for the admin role; the tokens they hand out work (and the old ones stop working)."""

from __future__ import annotations

import httpx
import pytest

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.security import SESSION_COOKIE
from cloudperf_core.auth import mint_session_token, probe_id_of, token_hash, token_matches
from cloudperf_core.catalog import Location, User
from tests.unit.api.conftest import client_for
from tests.unit.api.test_app_skeleton import assert_error

LAB = Location(name="AS64510 DE Frankfurt am Main, Hesse", country_code="DE", city="Frankfurt")


async def login(ctx: ApiContext, role: str) -> dict[str, str]:
    catalog = await ctx.services.catalog()
    await catalog.put_user(User(name=f"u-{role}", password_hash="x", role=role))  # type: ignore[arg-type]
    token = mint_session_token()
    await (await ctx.services.sessions()).create(token_hash(token), f"u-{role}", role, 600)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def admin(ctx: ApiContext) -> dict[str, str]:
    await (await ctx.services.catalog()).put_locations([LAB])
    return await login(ctx, "admin")


async def test_register_a_probe_and_its_token_works_once_shown(
    client: httpx.AsyncClient, ctx: ApiContext, admin: dict[str, str]
) -> None:
    got = await client.post("/v1/admin/probes", json={"name": "fra-1", "location": LAB.name},
                            headers=admin)  # fmt: skip
    assert got.status_code == 201, got.text
    assert got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["probe"] == {
        "probe_id": "fra-1", "location": LAB.name, "enabled": True,
        "created_at_ms": ctx.clock.now_ms(), "last_seen_ms": None,
    }  # fmt: skip
    token = body["token"]
    assert probe_id_of(token) == "fra-1" and "token_hash" not in got.text
    stored = await (await ctx.services.catalog()).get_probe("fra-1")
    assert stored is not None and token_matches(token, stored.token_hash)

    again = await client.post("/v1/admin/probes", json={"name": "fra-1", "location": LAB.name},
                              headers=admin)  # fmt: skip
    assert_error(again, 409, "conflict")
    nowhere = await client.post("/v1/admin/probes", json={"name": "x-1", "location": "Atlantis"},
                                headers=admin)  # fmt: skip
    assert_error(nowhere, 404, "not_found")
    for bad in ({"name": "Fra_1", "location": LAB.name}, {"name": "a"}, {"name": "a", "x": 1}):
        assert_error(await client.post("/v1/admin/probes", json=bad, headers=admin), 400,
                     "invalid_body")  # fmt: skip


async def test_rotate_disable_enable(
    client: httpx.AsyncClient, ctx: ApiContext, admin: dict[str, str]
) -> None:
    first = (
        await client.post("/v1/admin/probes", json={"name": "fra-1", "location": LAB.name},
                          headers=admin)
    ).json()["token"]  # fmt: skip
    rotated = await client.post("/v1/admin/probes/fra-1/rotate-token", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["probe"]["probe_id"] == "fra-1"
    second = rotated.json()["token"]
    stored = await (await ctx.services.catalog()).get_probe("fra-1")
    assert stored is not None
    assert token_matches(second, stored.token_hash) and not token_matches(first, stored.token_hash)

    off = await client.post("/v1/admin/probes/fra-1/disable", headers=admin)
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert (await (await ctx.services.catalog()).get_probe("fra-1")).enabled is False  # type: ignore[union-attr]
    on = await client.post("/v1/admin/probes/fra-1/enable", headers=admin)
    assert on.json()["enabled"] is True
    for action in ("rotate-token", "enable", "disable"):
        assert_error(await client.post(f"/v1/admin/probes/ghost/{action}", headers=admin), 404,
                     "not_found")  # fmt: skip


async def test_pause_and_resume(
    client: httpx.AsyncClient, ctx: ApiContext, admin: dict[str, str]
) -> None:
    assert (await client.post("/v1/admin/pause", headers=admin)).json() == {"paused": True}
    assert (await (await ctx.services.catalog()).get_settings()).paused is True
    assert (await client.post("/v1/admin/resume", headers=admin)).json() == {"paused": False}
    assert (await (await ctx.services.catalog()).get_settings()).paused is False


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/probes",
        "/v1/admin/probes/fra-1/rotate-token",
        "/v1/admin/probes/fra-1/enable",
        "/v1/admin/probes/fra-1/disable",
        "/v1/admin/pause",
        "/v1/admin/resume",
    ],
)
async def test_only_admins_may(client: httpx.AsyncClient, ctx: ApiContext, path: str) -> None:
    body = {"name": "fra-1", "location": LAB.name}
    assert_error(await client.post(path, json=body), 401, "unauthenticated")
    for role in ("viewer", "operator"):
        got = await client.post(path, json=body, headers=await login(ctx, role))
        assert_error(got, 403, "forbidden")
    assert (await (await ctx.services.catalog()).get_settings()).paused is False
    assert await (await ctx.services.catalog()).get_probe("fra-1") is None


async def test_a_browser_session_must_send_json_to_change_state(
    ctx: ApiContext, admin: dict[str, str]
) -> None:
    token = admin["authorization"].removeprefix("Bearer ")
    browser = client_for(create_app(ctx))
    browser.cookies.set(SESSION_COOKIE, token)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert_error(await browser.post("/v1/admin/pause", headers=form), 415,
                 "unsupported_media_type")  # fmt: skip
    assert (await (await ctx.services.catalog()).get_settings()).paused is False
    assert (await browser.post("/v1/admin/pause", json={})).json() == {"paused": True}


async def test_the_operations_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/v1/openapi.json")).json()
    register = doc["paths"]["/v1/admin/probes"]["post"]
    assert "201" in register["responses"] and "409" in register["responses"]
    assert "ProbeToken" in doc["components"]["schemas"]
    assert "post" in doc["paths"]["/v1/admin/probes/{name}/rotate-token"]
