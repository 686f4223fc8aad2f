"""MariaDB-backed maker: each store gets its own freshly created and migrated database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncmy

from adapters.aurora import AuroraMeasurementStore, open_backend
from adapters.aurora.db import AuroraConfig
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
async def temp_database(
    *, migrate: bool = True
) -> AsyncIterator[tuple[str, AuroraMeasurementStore]]:
    """A new ``cloudperf_test_<random>`` database and a store on it; dropped afterwards."""
    name = f"cloudperf_test_{secrets.token_hex(6)}"
    # The name is generated above from hex digits only: identifiers cannot be bound.
    await _admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    url = f"mysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{name}?pool_size=4&backoff_s=0.01"
    store = AuroraMeasurementStore(AuroraConfig.from_url(url))
    try:
        if migrate:
            await store.migrate()
        yield url, store
    finally:
        await store.close()
        await _admin(f"DROP DATABASE IF EXISTS `{name}`")


@asynccontextmanager
async def make(ctx: MakerContext) -> AsyncIterator[AuroraMeasurementStore]:
    async with temp_database() as (_, store):
        yield store


@asynccontextmanager
async def _catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    async with temp_database() as (url, _):
        catalog = await open_backend(url, "catalog")  # its own pool, as a deployment opens it
        try:
            yield catalog
        finally:
            await catalog.close()


@asynccontextmanager
async def _store_and_catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    async with temp_database() as (_, store):
        yield store, store.catalog  # one database, one pool


STORES = [Maker("mysql", make)]
CATALOGS = [Maker("mysql", _catalog)]
STORES_WITH_CATALOG = [Maker("mysql", _store_and_catalog)]
