"""The OpenAPI document: structurally valid (openapi-spec-validator), every operation of
``all_routes()`` documents its errors, and the errors the routes really answer are among
the documented ones. And pages: no list answer reaches 1 MB."""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
import pytest
from openapi_spec_validator import validate

from cloudperf_core.api.app import all_routes, create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.http import Operation
from cloudperf_core.api.paging import MAX_LIMIT, decode_cursor, encode_cursor, page_of
from cloudperf_core.api.routes import catalog, queries, users
from cloudperf_core.api.routes import status as status_routes
from cloudperf_core.bootstrap import Services
from cloudperf_core.catalog import Role
from cloudperf_core.errors import BackendUnavailableError
from tests.unit.api.conftest import client_for
from tests.unit.api.seeding import seed, session_headers

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
# Routes that answer without touching any backend.
NO_BACKEND = {("GET", "/healthz"), ("GET", "/v1/openapi.json")}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    got = await client.get("/v1/openapi.json")
    assert got.status_code == 200
    doc: dict[str, Any] = got.json()
    return doc


def operation(doc: dict[str, Any], op: Operation) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][op.path][op.method.lower()]
    return found


async def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any structural error


async def test_every_operation_documents_its_errors(document: dict[str, Any]) -> None:
    ids = set()
    for route in all_routes():
        op = route.op
        doc_op = operation(document, op)
        ids.add(doc_op["operationId"])
        responses = doc_op["responses"]
        assert str(op.status) in responses
        errors = {int(s) for s in responses if int(s) >= 400}
        for status in errors:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == ERROR_REF, (op.path, status)
        required = set(op.errors)
        if op.auth != "none":
            required |= {401, 403}
        if op.body is not None:
            required |= {400, 413, 415}
        if op.query is not None:
            required.add(400)
        if (op.method, op.path) not in NO_BACKEND:
            required.add(503)
        assert required <= errors, (op.method, op.path, required - errors)
        for name in re.findall(r"{(\w+)}", op.path):
            assert any(p["name"] == name and p["in"] == "path" for p in doc_op["parameters"])
        for type_ in (op.body, op.response):
            if type_ is not None:
                name = getattr(type_, "__name__", "")
                assert any(k.startswith(name) for k in document["components"]["schemas"])
    assert len(ids) == len(all_routes())  # operation ids are unique


# (method, path template, request, who): requests that must fail, each with a status that
# the operation documents. ``who`` is the role of the caller (None: nobody logged in).
Case = tuple[str, str, str, dict[str, Any], Role | None, int]
CASES: list[Case] = [
    ("POST", "/v1/login", "/v1/login", {"json": {"username": "x", "password": "y"}}, None, 401),
    ("POST", "/v1/login", "/v1/login", {"json": {}}, None, 400),
    ("POST", "/v1/logout", "/v1/logout", {"content": b"x", "cookies": True}, "viewer", 415),
    ("POST", "/v1/password", "/v1/password", {"json": {}}, "viewer", 400),
    ("POST", "/v1/password", "/v1/password",
     {"json": {"old_password": "wrong one!", "new_password": "a new password"}}, "viewer", 403),
    ("GET", "/v1/me", "/v1/me", {}, None, 401),
    ("GET", "/v1/users", "/v1/users", {}, "operator", 403),
    ("POST", "/v1/users", "/v1/users", {"json": {"name": "viewer", "password": "0123456789"}},
     "admin", 409),
    ("PUT", "/v1/users/{name}/role", "/v1/users/ghost/role", {"json": {"role": "admin"}},
     "admin", 404),
    ("PUT", "/v1/users/{name}/role", "/v1/users/admin/role", {"json": {"role": "viewer"}},
     "admin", 409),
    ("PUT", "/v1/users/{name}/password", "/v1/users/ghost/password",
     {"json": {"password": "0123456789"}}, "admin", 404),
    ("DELETE", "/v1/users/{name}", "/v1/users/ghost", {}, "admin", 404),
    ("DELETE", "/v1/users/{name}", "/v1/users/admin", {}, "admin", 409),
    ("GET", "/v1/latency", "/v1/latency?since=soon", {}, "viewer", 400),
    ("GET", "/v1/latency/series", "/v1/latency/series?step=0", {}, "viewer", 400),
    ("GET", "/v1/ip/{addr}", "/v1/ip/nowhere", {}, "viewer", 400),
    ("GET", "/v1/search", "/v1/search", {}, "viewer", 400),
    ("GET", "/v1/countries", "/v1/countries?with_data=maybe", {}, "viewer", 400),
    ("GET", "/v1/cities", "/v1/cities?cursor=x", {}, "viewer", 400),
    ("GET", "/v1/asns", "/v1/asns?limit=5000", {}, "viewer", 400),
    ("GET", "/v1/groups", "/v1/groups?cursor=@", {}, "viewer", 400),
    ("GET", "/v1/groups/{name}", "/v1/groups/none", {}, "viewer", 404),
    ("PUT", "/v1/groups/{name}", "/v1/groups/x", {"json": {"locations": ["nope"]}},
     "operator", 400),
    ("PUT", "/v1/groups/{name}", "/v1/groups/x", {"json": {"locations": []}}, "viewer", 403),
    ("DELETE", "/v1/groups/{name}", "/v1/groups/none", {}, "operator", 404),
    ("GET", "/v1/status", "/v1/status", {}, None, 401),
]  # fmt: skip


async def test_the_errors_routes_answer_are_documented(
    ctx: ApiContext, document: dict[str, Any]
) -> None:
    await seed(ctx)
    roles: tuple[Role, ...] = ("viewer", "operator", "admin")
    headers = {role: await session_headers(ctx, role, role) for role in roles}
    covered = set()
    for method, template, url, kwargs, who, status in CASES:
        client = client_for(create_app(ctx))
        request: dict[str, Any] = dict(kwargs)
        auth = {} if who is None else headers[who]
        if request.pop("cookies", False):
            client.cookies.set("cloudperf_session", auth["authorization"].removeprefix("Bearer "))
        else:
            request["headers"] = auth
        got = await client.request(method, url, **request)
        assert got.status_code == status, (method, url, got.text)
        assert set(got.json()) == {"error", "detail"}
        documented = document["paths"][template][method.lower()]["responses"]
        assert str(status) in documented, (method, template, status)
        covered.add((method, template))
    # Every operation of the user-facing modules has a failing case above.
    mine = [*users.ROUTES, *queries.ROUTES, *catalog.ROUTES, *status_routes.ROUTES]
    assert {(r.op.method, r.op.path) for r in mine} == covered


async def test_a_backend_down_is_a_documented_503(
    ctx: ApiContext, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await session_headers(ctx, "vera", "viewer")
    client = client_for(create_app(ctx))

    async def down(self: Services) -> Any:
        raise BackendUnavailableError("mysql://admin:***@db: connection refused")

    monkeypatch.setattr(Services, "store", down)
    for path in ("/v1/latency", "/v1/latency/series", "/v1/status", "/v1/countries?with_data=true"):
        got = await client.get(path, headers=headers)
        assert got.status_code == 503 and got.headers["retry-after"], got.text
        assert "mysql" not in got.json()["detail"]
        template = path.split("?")[0]
        assert "503" in document["paths"][template]["get"]["responses"]


def test_a_page_stops_before_a_megabyte_and_continues_after_its_last_item() -> None:
    big = [{"name": f"item-{i:04d}", "blob": "x" * 50_000} for i in range(100)]  # 5 MB in all
    walked: list[dict[str, str]] = []
    after: str | None = None
    pages = 0
    while True:
        rest = [item for item in big if after is None or item["name"] > after]
        page = page_of(rest, key=lambda item: item["name"], limit=MAX_LIMIT)
        assert 0 < len(msgspec.json.encode(page)) < 1_000_000
        walked += page.items
        pages += 1
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor, str)
    assert walked == big and pages == 7  # 16 items (800 KB) a page
    assert page_of(big[:3], key=lambda item: item["name"], limit=3).next_cursor is None
    assert page_of(big[:4], key=lambda item: item["name"], limit=3).next_cursor == encode_cursor(
        "item-0002"
    )
