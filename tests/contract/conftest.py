"""Every port's contract suite runs against every backend registered in ``makers/``."""

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


@pytest.fixture(params=_params("STORES"))
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("JOB_QUEUES"))
async def job_queue(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("REPORT_QUEUES"))
async def report_queue(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend


@pytest.fixture(params=_params("CACHES"))
async def cache(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    async for backend in _open(request, tmp_path):
        yield backend
