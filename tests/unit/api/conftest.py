"""An API over fresh in-memory backends, and an httpx client talking to it in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.memory import FakeClock
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.settings import ServiceSettings
from tests.unit.api.seeding import World, seed, session_headers

# argon2 at its cheapest: the tests check behaviour, not the cost parameters.
CHEAP = ServiceSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)


def fresh_config() -> Config:
    name = uuid.uuid4().hex
    return Config(
        store=f"memory://{name}",
        jobs=f"memory://{name}",
        reports=f"memory://{name}",
        cache=f"memory://{name}",
        settings=CHEAP,
    )


@pytest.fixture
async def ctx() -> AsyncIterator[ApiContext]:
    config = fresh_config()
    async with Services(config) as services:
        yield ApiContext(
            services=services,
            settings=config.settings,
            clock=FakeClock(),
            hasher=PasswordHasher(config.settings),
        )


def client_for(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, **kwargs)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(ctx: ApiContext) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(ctx)) as c:
        yield c


@pytest.fixture
async def world(ctx: ApiContext) -> World:
    """The seeded catalogue, probes and measurements of :mod:`tests.unit.api.seeding`."""
    return await seed(ctx)


@pytest.fixture
async def viewer(ctx: ApiContext) -> dict[str, str]:
    """Headers of a viewer's session."""
    return await session_headers(ctx, "vera", "viewer")
