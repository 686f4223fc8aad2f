"""Fixtures for the suites of the extra Redis-era ports (sessions, liveness, counters, cursors).

``tests/contract/conftest.py`` covers the original ports; these fixtures are imported by the
suites that need them and parametrized the same way, over every maker module's list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.contract.makers import Maker, MakerContext, makers


def _params(kind: str) -> list[Any]:
    return [pytest.param(m, id=m.name) for m in makers(kind)]


async def _open(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    maker: Maker = request.param
    async with maker.make(MakerContext(tmp_path=tmp_path)) as backend:
        yield backend


@pytest.fixture(params=_params("SESSIONS"))
async def sessions(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("LIVENESS"))
async def liveness(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("COUNTERS"))
async def counters(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("CURSORS"))
async def cursors(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend
