"""The embedded SQLite store: a fresh file per test, and a private in-memory database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.sqlite import SqliteMeasurementStore
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


STORES = [Maker("sqlite-file", _file), Maker("sqlite-memory", _in_memory)]
