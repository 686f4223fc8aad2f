"""The embedded SQLite store: a fresh file per test, and a private in-memory database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.sqlite import SqliteCatalog, SqliteMeasurementStore, SqliteReportSpool
from adapters.sqlite.db import SqliteDatabase
from tests.contract.makers import Maker, MakerContext


@asynccontextmanager
async def _file(ctx: MakerContext) -> AsyncIterator[Any]:
    store = await SqliteMeasurementStore.open(ctx.tmp_path / "contract.db")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _in_memory(ctx: MakerContext) -> AsyncIterator[Any]:
    store = await SqliteMeasurementStore.open(":memory:")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _catalog_file(ctx: MakerContext) -> AsyncIterator[Any]:
    catalog = SqliteCatalog(await SqliteDatabase.open(ctx.tmp_path / "catalog.db"))
    try:
        yield catalog
    finally:
        await catalog.close()


@asynccontextmanager
async def _catalog_in_memory(ctx: MakerContext) -> AsyncIterator[Any]:
    catalog = SqliteCatalog(await SqliteDatabase.open(":memory:"))
    try:
        yield catalog
    finally:
        await catalog.close()


@asynccontextmanager
async def _store_and_catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    store = await SqliteMeasurementStore.open(ctx.tmp_path / "places.db")
    try:
        yield store, store.catalog  # one file, one connection
    finally:
        await store.close()


STORES = [Maker("sqlite-file", _file), Maker("sqlite-memory", _in_memory)]
CATALOGS = [Maker("sqlite-file", _catalog_file), Maker("sqlite-memory", _catalog_in_memory)]
STORES_WITH_CATALOG = [Maker("sqlite", _store_and_catalog)]


@asynccontextmanager
async def _spool(ctx: MakerContext) -> AsyncIterator[Any]:
    spool = await SqliteReportSpool.open(ctx.tmp_path / "spool.db", clock=ctx.clock)
    try:
        yield spool
    finally:
        await spool.close()


SPOOLS = [Maker("sqlite-file", _spool, fake_clock=True)]
