"""Hostile requests against the real app, on the in-memory backends and on SQLite (the embedded
default): each gets a 4xx with ``{"error", "detail"}``, never a 500, and no store changes.

The cases are data (:mod:`tests.unit.api.hostile_cases`), one test id each; every route of
the app has hostile cases (a new route without them fails
``test_every_route_has_hostile_cases``). MariaDB runs the same cases in
``tests/services/test_api_security_mysql.py``.

One world per backend serves every case (building one costs more than a case): a refused
request changes nothing, and each case compares the stores just before and just after
itself, so a case that wrongly changed something fails on its own. Every case calls from its
own client address, and the brute-force cases run last (they lock their user out).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Match

from cloudperf_core.api.app import all_routes, create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.clock import SystemClock
from tests.unit.api.conftest import CHEAP
from tests.unit.api.hostile import World, build_world, send, snapshot
from tests.unit.api.hostile_cases import HARMLESS, Case, all_cases

CASES = all_cases()
ORDERED = sorted(CASES, key=lambda c: bool(c.before))  # brute force last
CLIENTS = {c.id: (f"10.1.{i // 250}.{i % 250 + 1}", 40000) for i, c in enumerate(ORDERED)}
# Small limits so brute force shows within a few requests.
SETTINGS = msgspec.structs.replace(CHEAP, login_failures_per_user=3, login_failures_per_address=5)


def config_for(backend: str, tmp_path: Path) -> Config:
    name = uuid.uuid4().hex
    queues = {
        "jobs": f"memory://{name}",
        "reports": f"memory://{name}",
        "cache": f"memory://{name}",
    }
    store = f"memory://{name}" if backend == "memory" else f"sqlite:///{tmp_path / 'cp.db'}"
    return Config(store=store, settings=SETTINGS, **queues)


@dataclass
class Shared:
    ctx: ApiContext
    app: Starlette
    world: World


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["memory", "sqlite"])
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    config = config_for(request.param, tmp_path_factory.mktemp("security"))
    async with Services(config) as services:
        ctx = ApiContext(
            services=services,
            settings=config.settings,
            clock=SystemClock(),
            hasher=PasswordHasher(config.settings),
        )
        app = create_app(ctx)
        yield Shared(ctx, app, await build_world(ctx, app, expired=True))


def _sqlite_file(ctx: ApiContext) -> Path | None:
    url = ctx.services.config.store
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def request_headers(world: World, case: Case, body: bytes) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if case.auth is not None:
        if case.auth.startswith("raw:"):
            headers.append((b"authorization", case.auth.removeprefix("raw:").encode()))
        elif case.auth.startswith("cookie:"):
            token = world.cookies[case.auth.removeprefix("cookie:")]
            headers.append((b"cookie", f"cloudperf_session={token}".encode()))
        else:
            headers.append((b"authorization", world.auth[case.auth].encode()))
    if case.content_type is not None and case.body is not None:
        headers.append((b"content-type", case.content_type.encode()))
    if case.content_length is not None:
        headers.append((b"content-length", case.content_length))
    elif not case.chunked:
        headers.append((b"content-length", str(len(body)).encode()))
    return headers


def chunks_of(case: Case, body: bytes) -> list[bytes]:
    if not case.chunked:
        return [body]
    size = 64 * 1024
    return [body[i : i + size] for i in range(0, len(body), size)]


async def run_case(
    world: World, app: Any, case: Case, client: tuple[str, int] = ("10.0.0.1", 40000)
) -> None:
    path = world.fill(case.path)
    for earlier in case.before:
        # Brute force: each earlier try is refused as a failed login.
        body = world.fill(earlier)
        got = await send(app, case.method, path, headers=request_headers(world, case, body),
                         chunks=[body], client=client)  # fmt: skip
        assert got.status == 401, (got.status, got.body[:300])
    body = world.fill(case.body or b"")
    got = await send(app, case.method, path, headers=request_headers(world, case, body),
                     chunks=chunks_of(case, body), client=client)  # fmt: skip
    assert got.status == case.status, (got.status, got.body[:300])
    assert got.headers.get("content-type") == "application/json", got.headers
    answer = got.json()
    assert set(answer) == {"error", "detail"}, answer
    assert answer["error"] == case.code and answer["detail"], answer
    if case.status == 429:
        assert int(got.headers["retry-after"]) >= 1
    if case.status == 401:
        assert (
            got.headers.get("www-authenticate") == "Bearer"
            or case.auth is None
            or (case.path == b"/v1/logout")
        )


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", ORDERED, ids=[c.id for c in ORDERED])
async def test_a_hostile_request_gets_a_4xx_and_changes_nothing(shared: Shared, case: Case) -> None:
    path = _sqlite_file(shared.ctx)
    before = await snapshot(shared.world, path)

    await run_case(shared.world, shared.app, case, client=CLIENTS[case.id])

    assert await snapshot(shared.world, path) == before


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("name", "path"), HARMLESS, ids=[h[0] for h in HARMLESS])
async def test_hostile_looking_but_valid_queries_find_nothing(
    shared: Shared, name: str, path: bytes
) -> None:
    world = shared.world
    before = await snapshot(world, _sqlite_file(shared.ctx))

    got = await send(
        shared.app, "GET", path, headers=[(b"authorization", world.auth["viewer"].encode())]
    )

    assert got.status == 200, got.body[:300]
    assert await snapshot(world, _sqlite_file(shared.ctx)) == before


def test_every_route_has_hostile_cases() -> None:
    """Every route of the app (API and console) is the target of cases; the route a case
    reaches is what the app's own router matches, not a label. A route that takes no input
    at all (no credential, body, query or path parameter: ``/healthz``, ``/``) may be covered
    by a wrong method alone; every other one needs a case with its own method."""
    app = create_app(ApiContext(services=Services(Config(store="memory://"))))
    reached: set[str] = set()
    for case in CASES:
        raw = case.path.split(b"?")[0].replace(b"@LEASE@", b"x")
        scope = {"type": "http", "method": case.method, "path": raw.decode("latin-1")}
        for route in app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                reached.add(f"{case.method} {route.path}")  # type: ignore[attr-defined]
                break
            if match == Match.PARTIAL:
                reached.add(f"* {route.path}")  # type: ignore[attr-defined]
    ops = {f"{r.op.method} {r.op.path}": r.op for r in all_routes()}
    missing = []
    for route in app.routes:
        path = route.path  # type: ignore[attr-defined]
        for method in sorted(set(route.methods or ()) - {"HEAD"}):  # type: ignore[attr-defined]
            op = ops.get(f"{method} {path}")
            inputless = "{" not in path and (
                op is None or (op.auth == "none" and op.body is None and op.query is None)
            )
            if f"{method} {path}" not in reached and not (inputless and f"* {path}" in reached):
                missing.append(f"{method} {path}")
    assert missing == []
    assert len(ops) == len(all_routes()) == 36  # a new route: add its hostile cases
    assert len(CASES) >= 150
