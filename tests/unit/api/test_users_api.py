"""Login, logout, password changes, rate limits and user administration through the API."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import msgspec
import pytest

from adapters.memory import FakeClock
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher, token_hash
from cloudperf_core.catalog import Role
from cloudperf_core.service import directory
from tests.unit.api.conftest import client_for

PASSWORD = "correct horse battery"
JSON = {"content-type": "application/json"}


async def add_user(
    ctx: ApiContext, name: str, role: Role = "viewer", password: str = PASSWORD
) -> None:
    await directory.create_user(
        await ctx.services.catalog(), ctx.password_hasher(), name, password, role
    )


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/v1/login", json={"username": name, "password": password})


async def bearer(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> dict[str, str]:
    got = await login(client, name, password)
    assert got.status_code == 200, got.text
    return {"authorization": f"Bearer {got.json()['token']}"}


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    return str(body["detail"])


def advance(ctx: ApiContext, seconds: float) -> None:
    assert isinstance(ctx.clock, FakeClock)
    ctx.clock.advance(seconds)


# --- login ----------------------------------------------------------------------------------


async def test_login_gives_a_token_for_the_header_and_the_cookie(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    await add_user(ctx, "ana", "operator")
    got = await login(client, "ana")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["token"].startswith("cps_") and (body["user"], body["role"]) == ("ana", "operator")
    session = await (await ctx.services.sessions()).get(token_hash(body["token"]))
    assert session is not None and body["expires_at_ms"] == session.expires_at_ms
    assert session.expires_at_ms - session.created_at_ms == ctx.settings.session_ttl_s * 1000
    assert got.headers["cache-control"] == "no-store"
    cookie = got.headers["set-cookie"]
    assert cookie.startswith(f"cloudperf_session={body['token']};")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower() and "max-age=43200" in cookie.lower()
    assert "secure" not in attributes  # plain http from 127.0.0.1: a local `cloudperf serve`
    me = await client.get("/v1/me", headers={"authorization": f"Bearer {body['token']}"})
    assert me.json() == {"user": "ana", "role": "operator", "expires_at_ms": body["expires_at_ms"]}
    # The cookie alone authenticates (the client kept it from the login answer).
    assert (await client.get("/v1/me")).json()["user"] == "ana"


@pytest.mark.parametrize(
    ("base_url", "peer"),
    [("http://testserver", ("10.9.8.7", 1)), ("https://testserver", ("127.0.0.1", 1))],
)
async def test_the_cookie_is_secure_unless_plain_http_on_loopback(
    ctx: ApiContext, base_url: str, peer: tuple[str, int]
) -> None:
    await add_user(ctx, "ana")
    transport = httpx.ASGITransport(app=create_app(ctx), client=peer)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        got = await login(client, "ana")
    assert "secure" in [a.strip().lower() for a in got.headers["set-cookie"].split(";")]


async def test_wrong_passwords_and_unknown_users_look_alike(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    await add_user(ctx, "ana")
    wrong = error(await login(client, "ana", "not the password"), 401, "unauthenticated")
    nobody = error(await login(client, "nobody", PASSWORD), 401, "unauthenticated")
    assert wrong == nobody == "wrong user name or password"
    for body in ({"username": "ana"}, {"username": "", "password": "x"}, {"user": "ana"},
                 {"username": "a" * 256, "password": PASSWORD}):  # fmt: skip
        error(await client.post("/v1/login", json=body), 400, "invalid_body")
    raw = await client.post(
        "/v1/login", content=b"username=ana", headers={"content-type": "text/plain"}
    )
    error(raw, 415, "unsupported_media_type")


async def test_failed_logins_are_limited_per_user_and_per_address(ctx: ApiContext) -> None:
    ctx.settings = msgspec.structs.replace(
        ctx.settings, login_failures_per_user=3, login_failures_per_address=5, login_window_s=300
    )
    for name in ("ana", "bob", "cid"):
        await add_user(ctx, name)
    app = create_app(ctx)
    here = client_for(app, client=("10.0.0.1", 1))
    there = client_for(app, client=("10.0.0.2", 1))
    for _ in range(3):
        error(await login(here, "ana", "guess"), 401, "unauthenticated")
    # At the user's limit even the right password is refused, before any hashing.
    limited = await login(there, "ana")
    error(limited, 429, "rate_limited")
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 360
    # The address: two more failures for another user make five from 10.0.0.1.
    for _ in range(2):
        error(await login(here, "bob", "guess"), 401, "unauthenticated")
    error(await login(here, "cid"), 429, "rate_limited")
    assert (await login(there, "cid")).status_code == 200
    # Retry-After is exact: a second early, still refused; then accepted.
    advance(ctx, retry_after - 1)
    error(await login(there, "ana"), 429, "rate_limited")
    advance(ctx, 1)
    assert (await login(there, "ana")).status_code == 200


async def test_behind_an_alb_the_last_forwarded_hop_is_the_address(ctx: ApiContext) -> None:
    ctx.settings = msgspec.structs.replace(
        ctx.settings, trusted_proxy="alb", login_failures_per_user=100, login_failures_per_address=2
    )
    await add_user(ctx, "ana")
    alb = client_for(create_app(ctx), client=("10.0.0.9", 1))  # every request from the ALB

    def hop(address: str) -> dict[str, str]:
        return {"x-forwarded-for": f"198.51.100.1, {address}"}  # the first hop is a claim

    body = {"username": "ana", "password": "guess"}
    for _ in range(2):
        got = await alb.post("/v1/login", json=body, headers=hop("203.0.113.5"))
        error(got, 401, "unauthenticated")
    good = {"username": "ana", "password": PASSWORD}
    error(await alb.post("/v1/login", json=good, headers=hop("203.0.113.5")), 429, "rate_limited")
    assert (await alb.post("/v1/login", json=good, headers=hop("203.0.113.6"))).status_code == 200


async def test_an_outdated_hash_is_replaced_at_login(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    catalog = await ctx.services.catalog()
    old = PasswordHasher(msgspec.structs.replace(ctx.settings, argon2_time_cost=2))
    await directory.create_user(catalog, old, "ana", PASSWORD, "viewer")
    before = await catalog.get_user("ana")
    assert before is not None and ",t=2," in before.password_hash
    assert (await login(client, "ana")).status_code == 200
    after = await catalog.get_user("ana")
    assert after is not None and ",t=1," in after.password_hash
    assert (await login(client, "ana")).status_code == 200  # the new hash verifies


# --- logout and passwords -------------------------------------------------------------------


async def test_logout_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    await add_user(ctx, "ana")
    headers = await bearer(client, "ana")
    got = await client.post("/v1/logout", headers=headers)
    assert got.status_code == 204
    assert (
        'cloudperf_session=""' in got.headers["set-cookie"]
        or "max-age=0" in got.headers["set-cookie"].lower()
    )
    error(await client.get("/v1/me", headers=headers), 401, "unauthenticated")
    assert (await client.post("/v1/logout")).status_code == 204  # nothing to end: fine
    # With the cookie, a state change needs a JSON content type (a form post cannot).
    await login(client, "ana")
    error(await client.post("/v1/logout", content=b"x", headers={"content-type": "text/plain"}),
          415, "unsupported_media_type")  # fmt: skip
    assert (await client.get("/v1/me")).status_code == 200
    assert (await client.post("/v1/logout", json={})).status_code == 204
    client.cookies.clear()
    error(await client.get("/v1/me"), 401, "unauthenticated")


async def test_a_password_change_ends_every_session(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    await add_user(ctx, "ana")
    first, second = await bearer(client, "ana"), await bearer(client, "ana")
    client.cookies.clear()
    change = {"old_password": "wrong password", "new_password": "a new password!"}
    error(await client.post("/v1/password", json=change, headers=first), 403, "wrong_password")
    short = {"old_password": PASSWORD, "new_password": "short"}
    error(await client.post("/v1/password", json=short, headers=first), 400, "invalid")
    ok = {"old_password": PASSWORD, "new_password": "a new password!"}
    got = await client.post("/v1/password", json=ok, headers=first)
    assert got.status_code == 200, got.text
    third = {"authorization": f"Bearer {got.json()['token']}"}
    for old in (first, second):
        error(await client.get("/v1/me", headers=old), 401, "unauthenticated")
    assert (await client.get("/v1/me", headers=third)).status_code == 200
    error(await login(client, "ana"), 401, "unauthenticated")
    assert (await login(client, "ana", "a new password!")).status_code == 200


# --- administration -------------------------------------------------------------------------


async def test_admins_manage_users(client: httpx.AsyncClient, ctx: ApiContext) -> None:
    await add_user(ctx, "root", "admin")
    admin = await bearer(client, "root")
    client.cookies.clear()
    new = {"name": "bob", "password": PASSWORD, "role": "viewer"}
    got = await client.post("/v1/users", json=new, headers=admin)
    assert got.status_code == 201 and got.json() == {"name": "bob", "role": "viewer"}
    error(await client.post("/v1/users", json=new, headers=admin), 409, "conflict")
    for bad in ({**new, "name": "bad name"}, {**new, "name": "x", "role": "god"}):
        error(await client.post("/v1/users", json=bad, headers=admin), 400, "invalid_body")
    error(await client.post("/v1/users", json={**new, "name": "eve", "password": "short"},
                            headers=admin), 400, "invalid")  # fmt: skip
    bob = await bearer(client, "bob")
    client.cookies.clear()
    error(await client.get("/v1/users", headers=bob), 403, "forbidden")
    error(
        await client.post("/v1/users", json={**new, "name": "eve"}, headers=bob), 403, "forbidden"
    )
    # Paged by name.
    for name in ("carl", "dana"):
        await client.post("/v1/users", json={**new, "name": name}, headers=admin)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/users", params=params, headers=admin)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [u["name"] for u in seen] == ["bob", "carl", "dana", "root"]
    # A new role counts at bob's next request; a reset password ends his sessions.
    got = await client.put("/v1/users/bob/role", json={"role": "admin"}, headers=admin)
    assert got.json() == {"name": "bob", "role": "admin"}
    assert (await client.get("/v1/users", headers=bob)).status_code == 200
    got = await client.put(
        "/v1/users/bob/password", json={"password": "another password"}, headers=admin
    )
    assert got.status_code == 204
    error(await client.get("/v1/me", headers=bob), 401, "unauthenticated")
    assert (await login(client, "bob", "another password")).status_code == 200
    client.cookies.clear()
    error(
        await client.put("/v1/users/nobody/role", json={"role": "viewer"}, headers=admin),
        404,
        "not_found",
    )
    assert (await client.delete("/v1/users/carl", headers=admin)).status_code == 204
    error(await client.delete("/v1/users/carl", headers=admin), 404, "not_found")


async def test_the_last_admin_stays(client: httpx.AsyncClient, ctx: ApiContext) -> None:
    await add_user(ctx, "root", "admin")
    admin = await bearer(client, "root")
    client.cookies.clear()
    error(await client.put("/v1/users/root/role", json={"role": "operator"}, headers=admin),
          409, "conflict")  # fmt: skip
    error(await client.delete("/v1/users/root", headers=admin), 409, "conflict")
    await add_user(ctx, "deputy", "admin")
    got = await client.put("/v1/users/root/role", json={"role": "operator"}, headers=admin)
    assert got.json()["role"] == "operator"
    error(await client.get("/v1/users", headers=admin), 403, "forbidden")  # at once


async def test_a_recreated_user_does_not_inherit_old_sessions(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    await add_user(ctx, "root", "admin")
    await add_user(ctx, "bob")
    admin, bob = await bearer(client, "root"), await bearer(client, "bob")
    client.cookies.clear()
    assert (await client.delete("/v1/users/bob", headers=admin)).status_code == 204
    new = {"name": "bob", "password": "someone else entirely", "role": "admin"}
    assert (await client.post("/v1/users", json=new, headers=admin)).status_code == 201
    error(await client.get("/v1/me", headers=bob), 401, "unauthenticated")


async def test_no_password_or_token_is_ever_logged(
    client: httpx.AsyncClient, ctx: ApiContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Named too: an in-process CLI test may have left "cloudperf_core" at WARNING.
    caplog.set_level(logging.DEBUG, logger="cloudperf_core")
    await add_user(ctx, "root", "admin")
    secrets: list[str] = [PASSWORD, "a new password!", "third password!", "typo password"]
    got = await login(client, "root")
    secrets.append(got.json()["token"])
    admin = {"authorization": f"Bearer {got.json()['token']}"}
    await login(client, "root", "typo password")
    await login(client, PASSWORD, PASSWORD)  # a password typed into the name field
    change = {"old_password": PASSWORD, "new_password": "a new password!"}
    got = await client.post("/v1/password", json=change, headers=admin)
    secrets.append(got.json()["token"])
    admin = {"authorization": f"Bearer {got.json()['token']}"}
    await client.post(
        "/v1/users", json={"name": "bob", "password": "third password!"}, headers=admin
    )
    await client.put("/v1/users/bob/password", json={"password": PASSWORD}, headers=admin)
    await client.post("/v1/logout", headers=admin)
    assert any("logged in" in r.getMessage() for r in caplog.records)  # something was logged
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        for secret in secrets:
            assert secret not in text, record.getMessage()


async def test_guessing_the_old_password_is_limited_apart_from_logins(ctx: ApiContext) -> None:
    ctx.settings = msgspec.structs.replace(
        ctx.settings, login_failures_per_user=2, login_failures_per_address=100
    )
    await add_user(ctx, "ana")
    client = client_for(create_app(ctx))
    headers = await bearer(client, "ana")
    client.cookies.clear()
    # Someone failing logins with ana's name does not keep her from changing her password.
    for _ in range(2):
        error(await login(client, "ana", "guess"), 401, "unauthenticated")
    error(await login(client, "ana"), 429, "rate_limited")
    wrong = {"old_password": "guessing!!", "new_password": "a new password!"}
    for _ in range(2):
        got = await client.post("/v1/password", json=wrong, headers=headers)
        error(got, 403, "wrong_password")
    right = {"old_password": PASSWORD, "new_password": "a new password!"}
    got = await client.post("/v1/password", json=right, headers=headers)
    assert int(got.headers["retry-after"]) >= 1
    error(got, 429, "rate_limited")
    advance(ctx, ctx.settings.login_window_s + 60)
    assert (await client.post("/v1/password", json=right, headers=headers)).status_code == 200
