"""The API's frame: error bodies, body/query decoding, auth before handlers, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import msgspec
import pytest
from starlette.responses import Response

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.routes import meta
from cloudperf_core.api.security import SESSION_COOKIE, client_address
from cloudperf_core.auth import mint_probe_token, mint_session_token, token_hash
from cloudperf_core.catalog import Location, Probe, User
from cloudperf_core.errors import BackendUnavailableError, NotFoundError
from tests.unit.api.conftest import client_for


class Echo(msgspec.Struct, forbid_unknown_fields=True):
    n: int
    names: list[str] = []


class EchoQuery(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 10
    country: tuple[str, ...] = ()


@endpoint(Operation("POST", "/t/echo", "echo", "none", "test", Echo, None, Echo))
async def echo(call: Call) -> Response:
    return call.json(await call.body(Echo))


@endpoint(Operation("GET", "/t/query", "query", "none", "test", None, EchoQuery, EchoQuery))
async def query(call: Call) -> Response:
    return call.json(call.query(EchoQuery))


@endpoint(Operation("GET", "/t/probe", "who", "probe", "test"))
async def probe_only(call: Call) -> Response:
    assert call.probe is not None
    return call.json({"probe": call.probe.probe_id})


@endpoint(Operation("GET", "/t/operator", "op", "operator", "test"))
async def operator_only(call: Call) -> Response:
    assert call.session is not None
    return call.json({"user": call.session.user})


@endpoint(Operation("GET", "/t/addr", "addr", "none", "test"))
async def addr(call: Call) -> Response:
    return call.json({"address": client_address(call)})


@endpoint(Operation("GET", "/t/fail/{kind}", "fail", "none", "test"))
async def fail(call: Call) -> Response:
    kind = call.path("kind")
    if kind == "missing":
        raise NotFoundError("no probe named 'x'")
    if kind == "down":
        raise BackendUnavailableError("mysql://admin:***@db: lost connection")
    raise RuntimeError("secret internals")


TEST_ROUTES: list[ApiRoute] = [
    *meta.ROUTES,
    echo,
    query,
    probe_only,
    operator_only,
    addr,
    fail,
]


@pytest.fixture
async def tclient(ctx: ApiContext) -> httpx.AsyncClient:
    return client_for(create_app(ctx, TEST_ROUTES), client=("10.9.8.7", 1234))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == code and body["detail"]
    return body


async def test_health_and_unknown_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(await client.post("/healthz"), 405, "method_not_allowed")


async def test_body_decoding(tclient: httpx.AsyncClient) -> None:
    ok = await tclient.post("/t/echo", json={"n": 3, "names": ["a"]})
    assert ok.json() == {"n": 3, "names": ["a"]}
    assert_error(
        await tclient.post("/t/echo", content=b'{"n": 1}', headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    bad = assert_error(await tclient.post("/t/echo", json={"n": "x"}), 400, "invalid_body")
    assert "$.n" in bad["detail"]
    assert_error(await tclient.post("/t/echo", json={"n": 1, "extra": 2}), 400, "invalid_body")
    assert_error(
        await tclient.post(
            "/t/echo", content=b"{" * 10, headers={"content-type": "application/json"}
        ),
        400,
        "invalid_body",
    )


async def test_body_limit_declared_and_streamed(
    tclient: httpx.AsyncClient, ctx: ApiContext
) -> None:
    huge = b'{"n": 1, "names": ["' + b"x" * ctx.settings.max_body_bytes + b'"]}'
    assert_error(
        await tclient.post("/t/echo", content=huge, headers={"content-type": "application/json"}),
        413,
        "body_too_large",
    )

    # no Content-Length: the limit holds while streaming
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(ctx.settings.max_body_bytes // 1000 + 2):
            yield b" " * 1000

    assert_error(
        await tclient.post(
            "/t/echo", content=chunks(), headers={"content-type": "application/json"}
        ),
        413,
        "body_too_large",
    )


async def test_a_client_gone_mid_body_is_a_4xx_not_a_server_error(
    ctx: ApiContext, caplog: pytest.LogCaptureFixture
) -> None:
    # Raw ASGI: the first part of the body arrives, then the client disconnects.
    app = create_app(ctx, TEST_ROUTES)
    events: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"n": 1, "na', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/t/echo", "raw_path": b"/t/echo", "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json")],
        "client": ("10.9.8.7", 1234), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400
    assert msgspec.json.decode(body)["error"] == "client_disconnected"
    assert "unhandled" not in caplog.text


async def test_query_parameters(tclient: httpx.AsyncClient) -> None:
    got = await tclient.get("/t/query", params=[("limit", "5"), ("country", "AU")])
    assert got.json() == {"limit": 5, "country": ["AU"]}
    got = await tclient.get("/t/query", params=[("country", "AU"), ("country", "NZ")])
    assert got.json()["country"] == ["AU", "NZ"]
    assert_error(await tclient.get("/t/query?limit=x"), 400, "invalid_query")
    assert_error(await tclient.get("/t/query?limit=1&limit=2"), 400, "invalid_query")
    assert_error(await tclient.get("/t/query?bogus=1"), 400, "invalid_query")


async def test_errors_map_to_statuses_without_internals(tclient: httpx.AsyncClient) -> None:
    assert_error(await tclient.get("/t/fail/missing"), 404, "not_found")
    down = await tclient.get("/t/fail/down")
    body = assert_error(down, 503, "unavailable")
    assert down.headers["retry-after"] and "mysql" not in body["detail"]
    crash = assert_error(await tclient.get("/t/fail/other"), 500, "internal")
    assert "secret" not in crash["detail"]


async def _add_probe(ctx: ApiContext, probe_id: str, *, enabled: bool = True) -> str:
    catalog = await ctx.services.catalog()
    await catalog.put_locations([Location(name="lab", country_code="AU")])
    token = mint_probe_token(probe_id)
    await catalog.put_probe(
        Probe(probe_id=probe_id, token_hash=token_hash(token), location="lab", enabled=enabled)
    )
    return token


async def test_probe_auth(tclient: httpx.AsyncClient, ctx: ApiContext) -> None:
    token = await _add_probe(ctx, "syd-1")
    ok = await tclient.get("/t/probe", headers={"authorization": f"Bearer {token}"})
    assert ok.json() == {"probe": "syd-1"} and ok.headers["cache-control"] == "no-store"
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    other = mint_probe_token("nobody")
    for header in (None, "Bearer", "Basic abc", f"Bearer {wrong_secret}", f"Bearer {other}"):
        headers = {"authorization": header} if header else {}
        assert_error(await tclient.get("/t/probe", headers=headers), 401, "unauthenticated")
    disabled = await _add_probe(ctx, "off-1", enabled=False)
    got = await tclient.get("/t/probe", headers={"authorization": f"Bearer {disabled}"})
    assert_error(got, 403, "probe_disabled")


async def _login(ctx: ApiContext, user: str, role: str) -> str:
    catalog = await ctx.services.catalog()
    await catalog.put_user(User(name=user, password_hash="x", role=role))  # type: ignore[arg-type]
    token = mint_session_token()
    await (await ctx.services.sessions()).create(token_hash(token), user, role, 600)
    return token


async def test_user_roles_use_the_current_role(tclient: httpx.AsyncClient, ctx: ApiContext) -> None:
    viewer = await _login(ctx, "vera", "viewer")
    operator = await _login(ctx, "otto", "operator")
    bearer = {"authorization": f"Bearer {operator}"}
    assert (await tclient.get("/t/operator", headers=bearer)).json() == {"user": "otto"}
    cookie_client = client_for(create_app(ctx, TEST_ROUTES), client=("10.0.0.1", 1))
    cookie_client.cookies.set(SESSION_COOKIE, operator)
    assert (await cookie_client.get("/t/operator")).status_code == 200
    assert_error(
        await tclient.get("/t/operator", headers={"authorization": f"Bearer {viewer}"}),
        403,
        "forbidden",
    )
    # A probe token is not a session; a demoted or deleted user loses access at once.
    probe_token = await _add_probe(ctx, "p-1")
    got = await tclient.get("/t/operator", headers={"authorization": f"Bearer {probe_token}"})
    assert_error(got, 401, "unauthenticated")
    catalog = await ctx.services.catalog()
    await catalog.put_user(User(name="otto", password_hash="x", role="viewer"))
    assert_error(await tclient.get("/t/operator", headers=bearer), 403, "forbidden")
    await catalog.delete_user("otto")
    assert_error(await tclient.get("/t/operator", headers=bearer), 401, "unauthenticated")


async def test_client_address_trusts_only_the_last_hop_behind_an_alb(ctx: ApiContext) -> None:
    headers = {"x-forwarded-for": "1.1.1.1, 203.0.113.9"}
    direct = client_for(create_app(ctx, TEST_ROUTES), client=("10.9.8.7", 1))
    assert (await direct.get("/t/addr", headers=headers)).json()["address"] == "10.9.8.7"
    ctx.settings = msgspec.structs.replace(ctx.settings, trusted_proxy="alb")
    behind = client_for(create_app(ctx, TEST_ROUTES), client=("10.9.8.7", 1))
    assert (await behind.get("/t/addr", headers=headers)).json()["address"] == "203.0.113.9"


async def test_openapi_lists_every_operation_with_its_schemas(ctx: ApiContext) -> None:
    c = client_for(create_app(ctx, TEST_ROUTES))
    doc = (await c.get("/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    for r in TEST_ROUTES:
        assert r.op.method.lower() in doc["paths"][r.op.path], r.op.path
    echo_op = doc["paths"]["/t/echo"]["post"]
    assert echo_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Echo"
    }
    assert {"400", "413", "415"} <= echo_op["responses"].keys()
    params = {p["name"]: p for p in doc["paths"]["/t/query"]["get"]["parameters"]}
    assert params["country"]["schema"]["type"] == "array"
    assert doc["paths"]["/t/probe"]["get"]["security"] == [{"probeToken": []}]
    assert "ErrorBody" in doc["components"]["schemas"]
