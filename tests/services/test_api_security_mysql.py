"""The hostile requests of tests/unit/api/test_api_security.py on MariaDB (store and
catalogue), with every table of the database dumped before and after.

A database per case would cost more than the suite may take, so the cases run one after
another against one world; a refused request changes nothing, so each case still sees the
world as built (the snapshot is compared after every case). Brute-force cases run last (they
lock their user out for the window) and every case comes from its own client address. A
failure names every case that failed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncmy
import pytest

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.clock import SystemClock
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, temp_database
from tests.unit.api.hostile import World, build_world, snapshot
from tests.unit.api.test_api_security import CLIENTS, ORDERED, SETTINGS, run_case


@pytest.fixture
async def mysql_ctx() -> AsyncIterator[tuple[ApiContext, str, asyncmy.Connection]]:
    async with temp_database() as (url, _):
        name = uuid.uuid4().hex
        config = Config(
            store=url,
            jobs=f"memory://{name}",
            reports=f"memory://{name}",
            cache=f"memory://{name}",
            settings=SETTINGS,
        )
        conn = await asyncmy.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
        try:
            async with Services(config) as services:
                ctx = ApiContext(
                    services=services,
                    settings=SETTINGS,
                    clock=SystemClock(),
                    hasher=PasswordHasher(SETTINGS),
                )
                yield ctx, url.rsplit("/", 1)[1].split("?", 1)[0], conn
        finally:
            conn.close()


async def mysql_tables(conn: asyncmy.Connection, db: str) -> dict[str, list[Any]]:
    """Every row of every table of ``db``, ordered."""
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            (db,),
        )
        names = [str(r[0]) for r in await cur.fetchall()]
        out: dict[str, list[Any]] = {}
        for name in names:
            # Names come from the server's own schema of the test's database, quoted.
            await cur.execute(f"SELECT * FROM `{db}`.`{name}`")
            out[name] = sorted(await cur.fetchall(), key=repr)
    return out


async def state(world: World, conn: asyncmy.Connection, db: str) -> dict[str, Any]:
    return {**await snapshot(world), "mysql": await mysql_tables(conn, db)}


async def test_every_hostile_request_is_refused_on_mariadb_and_changes_no_table(
    mysql_ctx: tuple[ApiContext, str, asyncmy.Connection],
) -> None:
    ctx, db, conn = mysql_ctx
    app = create_app(ctx)
    world = await build_world(ctx, app, expired=True)
    before = await state(world, conn, db)
    assert before["mysql"]["probes"] and before["mysql"]["measurements"]  # a world to protect

    failures: list[str] = []
    for case in ORDERED:
        try:
            await run_case(world, app, case, client=CLIENTS[case.id])
        except AssertionError as exc:
            failures.append(f"{case.id}: {exc}")
            continue
        if await state(world, conn, db) != before:
            failures.append(f"{case.id}: the stores changed")
            break  # later cases would see another world

    assert failures == []
    assert len(ORDERED) >= 150
