"""Hostile requests against the real app, and what must not change while it refuses them.

- :func:`build_world` sets up a small fleet over any :class:`ApiContext` (probes with tokens,
  one rotated, one disabled; viewer, operator and admin sessions, one logged out, one of a
  deleted user; a leased latency and a discovery job; one stored report), all through the
  real use-cases and the API itself;
- :func:`snapshot` reads every store through its ports (and, for SQLite, every table with
  ``SELECT *``), the reports queue and the job queues, so a test compares before and after;
- :func:`send` drives the ASGI app directly, so the request is exactly what the case says:
  raw paths (``/../``, ``%2e%2e``, ``%2F``) that an HTTP client would normalise, bodies
  streamed in chunks without a ``Content-Length``, any header bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import msgspec

from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import mint_session_token, token_hash
from cloudperf_core.catalog import Group, User
from cloudperf_core.models import StatsQuery
from cloudperf_core.protocol import ReportSubmission
from cloudperf_core.service import directory
from tests.support.probe_env import ProbeEnv, discovery_job, latency_job, probe_env, report_for

_json = msgspec.json.Encoder()
SOURCES = ("lab", "far")
PASSWORD = "correct horse battery"  # tests.unit.api.hostile_cases.PASSWORD


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


async def send(
    app: Any,
    method: str,
    raw_path: bytes,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (),
    client: tuple[str, int] = ("10.0.0.1", 40000),
) -> Reply:
    """One request to the ASGI ``app``, as a server would hand it over: ``path`` is the
    percent-decoded ``raw_path`` (as uvicorn decodes it: invalid UTF-8 becomes U+FFFD), the
    body arrives in ``chunks``. An exception the app lets out is a 500 here (a server would
    answer one)."""
    path_part, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path_part.decode("latin-1")),
        "raw_path": path_part,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in headers],
        "client": client,
        "server": ("testserver", 80),
    }
    pending = list(chunks) or [b""]
    status = 0
    out_headers: dict[str, str] = {}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def respond(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.update(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message["headers"]
            )
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    try:
        await app(scope, receive, respond)
    except Exception:
        return Reply(500, out_headers, bytes(body))
    return Reply(status, out_headers, bytes(body))


@dataclass
class World:
    """What the cases refer to by name: tokens, sessions, lease ids."""

    ctx: ApiContext
    env: ProbeEnv
    auth: dict[str, str] = field(default_factory=dict)  # name -> Authorization value
    cookies: dict[str, str] = field(default_factory=dict)  # name -> session token
    marks: dict[bytes, bytes] = field(default_factory=dict)  # @NAME@ -> value
    session_tokens: list[str] = field(default_factory=list)  # live ones, watched by snapshot

    def fill(self, data: bytes) -> bytes:
        for mark, value in self.marks.items():
            data = data.replace(mark, value)
        return data


async def _session(ctx: ApiContext, user: str, role: str, ttl_s: float = 3600) -> str:
    catalog = await ctx.services.catalog()
    if await catalog.get_user(user) is None:
        await catalog.put_user(User(name=user, password_hash="unused", role=role))  # type: ignore[arg-type]
    token = mint_session_token()
    await (await ctx.services.sessions()).create(token_hash(token), user, role, ttl_s)
    return token


async def build_world(
    ctx: ApiContext,
    app: Any,
    *,
    expired: bool = False,
) -> World:
    """The fleet of :func:`tests.support.probe_env.probe_env` plus what hostile cases need.

    ``expired``: also an expired session and a lease whose ledger entry has expired (both
    on one-second TTLs, then one sleep past them).
    """
    env = await probe_env(ctx)
    world = World(ctx=ctx, env=env)
    catalog = await ctx.services.catalog()
    for probe in ("p1", "p2", "p3"):
        world.auth[probe] = f"Bearer {env.tokens[probe]}"
    # A probe whose token was rotated (the old one kept), one disabled.
    _, old = await directory.register_probe(catalog, catalog, ctx.clock, "p4", "lab")
    await directory.rotate_token(catalog, "p4")
    world.auth["rotated"] = f"Bearer {old}"
    _, disabled = await directory.register_probe(catalog, catalog, ctx.clock, "p5", "lab")
    await directory.set_probe_enabled(catalog, "p5", False)
    world.auth["disabled"] = f"Bearer {disabled}"
    # Users: a viewer (probe_env's "vera"), an operator, an admin; a session logged out through
    # the API, one of a user deleted since, one that looks right and was never issued.
    world.auth["viewer"] = f"Bearer {env.viewer_token}"
    for name, role in (("otto", "operator"), ("ada", "admin")):
        world.auth[role] = f"Bearer {await _session(ctx, name, role)}"
    world.session_tokens = [v.removeprefix("Bearer ") for k, v in world.auth.items()
                            if k in ("viewer", "operator", "admin")]  # fmt: skip
    world.cookies["viewer"] = env.viewer_token
    gone = await _session(ctx, "vera", "viewer")
    reply = await send(
        app, "POST", b"/v1/logout", headers=[(b"authorization", f"Bearer {gone}".encode())]
    )
    assert reply.status == 204, reply
    world.auth["logged_out"] = f"Bearer {gone}"
    world.auth["deleted_user"] = f"Bearer {await _session(ctx, 'dora', 'admin')}"
    assert await catalog.delete_user("dora")
    for name in ("ana", "bea"):
        await directory.create_user(catalog, ctx.password_hasher(), name, PASSWORD, "viewer")
    await catalog.set_group(Group(name="g1", locations=("lab",)))
    world.auth["forged_session"] = f"Bearer {mint_session_token()}"
    forged_probe = env.tokens["p1"][:-43] + "A" * 43
    world.auth["forged_probe"] = f"Bearer {forged_probe}"
    # Jobs: p1 holds a latency and a discovery lease; one report of it is stored already
    # (so a different report under its id is a conflict); a spare job waits at "far".
    job, disc = latency_job("j1"), discovery_job("d1")
    await env.issue(job, disc, latency_job("j9", source="far"))
    leases = await _poll(world, app, "p1")
    world.marks[b"@LEASE@"] = leases["j1"].encode()
    world.marks[b"@DISC_LEASE@"] = leases["d1"].encode()
    world.marks[b"@NOW@"] = str(ctx.clock.now_ms()).encode()
    good = report_for(job, "r1", started_at_ms=ctx.clock.now_ms())
    body = _json.encode(ReportSubmission(lease_id=leases["j1"], report=good))
    reply = await send(app, "POST", b"/v1/probe/reports", headers=[
        (b"authorization", world.auth["p1"].encode()), (b"content-type", b"application/json")
    ], chunks=[body])  # fmt: skip
    assert reply.status == 202, reply
    drained = await env.drain()
    assert drained.ingested == ["p1:r1"], drained
    if expired:
        world.auth["expired_session"] = f"Bearer {await _session(ctx, 'vera', 'viewer', 1)}"
        await env.issue(latency_job("j2"))
        short = msgspec.structs.replace(ctx.settings, lease_ledger_ttl_s=1)
        saved, ctx.settings = ctx.settings, short
        try:
            world.marks[b"@OLD_LEASE@"] = (await _poll(world, app, "p1"))["j2"].encode()
        finally:
            ctx.settings = saved
        await anyio.sleep(1.2)  # past both one-second TTLs (expiry is all that is waited for)
    return world


async def _poll(world: World, app: Any, probe: str) -> dict[str, str]:
    reply = await send(app, "POST", b"/v1/probe/poll", headers=[
        (b"authorization", world.auth[probe].encode()), (b"content-type", b"application/json")
    ], chunks=[b'{"max_jobs": 10}'])  # fmt: skip
    assert reply.status == 200, reply
    return {j["job"]["job_id"]: j["lease_id"] for j in reply.json()["jobs"]}


# --- the snapshot --------------------------------------------------------------------------


async def _all_pages(fetch: Callable[[str | None], Awaitable[list[Any]]], key: str) -> list[Any]:
    out: list[Any] = []
    after: str | None = None
    while True:
        page = await fetch(after)
        out += page
        if len(page) < 100:
            return out
        after = getattr(page[-1], key)


def sqlite_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite file at ``path``, ordered."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )]  # fmt: skip
        # Table names come from the schema itself, quoted; never from input.
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
                for n in names}  # fmt: skip


async def snapshot(world: World, sqlite_path: Path | None = None) -> dict[str, Any]:
    """The state a refused request must leave alone, as plain data."""
    services = world.ctx.services
    store, catalog = await services.store(), await services.catalog()
    sessions, jobs = await services.sessions(), await services.jobs()
    reports = await services.reports()
    queued = await reports.receive(100, 30)
    await reports.release([m.receipt for m in queued])
    state: dict[str, Any] = {
        "windows": msgspec.to_builtins(await store.fetch_windows(StatsQuery())),
        "locations": msgspec.to_builtins(
            await _all_pages(lambda a: catalog.list_locations(after=a), "name")
        ),
        "ranges": msgspec.to_builtins(await catalog.list_ranges(limit=1000)),
        "groups": msgspec.to_builtins(await catalog.list_groups()),
        "probes": msgspec.to_builtins(
            await _all_pages(lambda a: catalog.list_probes(after=a), "probe_id")
        ),
        "users": msgspec.to_builtins(
            await _all_pages(lambda a: catalog.list_users(after=a), "name")
        ),
        "settings": msgspec.to_builtins(await catalog.get_settings()),
        "sessions": [
            msgspec.to_builtins(await sessions.get(token_hash(t))) for t in world.session_tokens
        ],
        "reports_queued": sorted(m.body for m in queued),
        "reports_depth": msgspec.to_builtins(await reports.depth()),  # incl. dead letters
        "job_depth": {s: await jobs.depth(s) for s in SOURCES},
    }
    if sqlite_path is not None:
        state["sqlite"] = await anyio.to_thread.run_sync(sqlite_tables, sqlite_path)
    return state
