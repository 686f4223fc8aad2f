"""In-memory fakes for every port (the reference the real adapters are held to)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.memory import (
    InMemoryCache,
    InMemoryCatalog,
    InMemoryJobQueue,
    InMemoryMeasurementStore,
    InMemoryReportQueue,
)
from tests.contract.makers import Maker, MakerContext

# Report-queue makers configure this many receives before a message dead-letters.
MAX_RECEIVES = 3


@asynccontextmanager
async def _store(ctx: MakerContext) -> AsyncIterator[Any]:
    backend = InMemoryMeasurementStore()
    try:
        yield backend
    finally:
        await backend.close()


@asynccontextmanager
async def _jobs(ctx: MakerContext) -> AsyncIterator[Any]:
    backend = InMemoryJobQueue(clock=ctx.clock)
    try:
        yield backend
    finally:
        await backend.close()


@asynccontextmanager
async def _reports(ctx: MakerContext) -> AsyncIterator[Any]:
    backend = InMemoryReportQueue(clock=ctx.clock, max_receives=MAX_RECEIVES)
    try:
        yield backend
    finally:
        await backend.close()


@asynccontextmanager
async def _cache(ctx: MakerContext) -> AsyncIterator[Any]:
    backend = InMemoryCache(clock=ctx.clock)
    try:
        yield backend
    finally:
        await backend.close()


@asynccontextmanager
async def _catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    backend = InMemoryCatalog()
    try:
        yield backend
    finally:
        await backend.close()


@asynccontextmanager
async def _store_and_catalog(ctx: MakerContext) -> AsyncIterator[Any]:
    yield InMemoryMeasurementStore(), InMemoryCatalog()


STORES = [Maker("memory", _store)]
CATALOGS = [Maker("memory", _catalog)]
STORES_WITH_CATALOG = [Maker("memory", _store_and_catalog)]
JOB_QUEUES = [Maker("memory", _jobs, fake_clock=True)]
REPORT_QUEUES = [Maker("memory", _reports, fake_clock=True)]
CACHES = [Maker("memory", _cache, fake_clock=True)]
