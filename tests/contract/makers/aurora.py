"""MariaDB-backed maker: each store gets its own freshly created and migrated database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncmy

from adapters.aurora import AuroraMeasurementStore
from cloudperf_core.bootstrap import Config, Services
from tests.contract.makers import Maker, MakerContext

MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = 3306
MYSQL_USER = "root"


async def _admin(sql: str) -> None:
    try:
        conn = await asyncmy.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password="", connect_timeout=5
        )
    except (OSError, asyncmy.errors.MySQLError) as exc:  # fail loudly, never skip
        raise RuntimeError(
            f"MariaDB is not reachable at {MYSQL_HOST}:{MYSQL_PORT} as {MYSQL_USER}: {exc}"
        ) from exc
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
    finally:
        conn.close()


@asynccontextmanager
async def empty_database() -> AsyncIterator[str]:
    """The URL of a new, empty ``cloudperf_test_<random>`` database; dropped afterwards."""
    name = f"cloudperf_test_{secrets.token_hex(6)}"
    # The name is generated above from hex digits only: identifiers cannot be bound.
    await _admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{name}?pool_size=4&backoff_s=0.01"
    finally:
        await _admin(f"DROP DATABASE IF EXISTS `{name}`")


@asynccontextmanager
async def temp_database(
    *, migrate: bool = True
) -> AsyncIterator[tuple[str, AuroraMeasurementStore]]:
    """A new ``cloudperf_test_<random>`` database and a store on it (opened through the
    composition root); dropped afterwards."""
    async with empty_database() as url, Services(Config(store=url)) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        if migrate:
            await store.migrate()
        yield url, store


@asynccontextmanager
async def make(ctx: MakerContext) -> AsyncIterator[AuroraMeasurementStore]:
    async with temp_database() as (_, store):
        yield store


@asynccontextmanager
async def _catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    async with temp_database() as (url, _), Services(Config(store=url)) as services:
        yield await services.catalog()  # a composition root that opened only the catalogue


@asynccontextmanager
async def _store_and_catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    async with temp_database() as (url, _), Services(Config(store=url)) as services:
        # Catalogue URL = store URL: one pool for both, as a deployment opens them.
        yield await services.store(), await services.catalog()


STORES = [Maker("mysql", make, needs_service=True)]
CATALOGS = [Maker("mysql", _catalog, needs_service=True)]
STORES_WITH_CATALOG = [Maker("mysql", _store_and_catalog, needs_service=True)]
