"""Every port's contract suite runs against every backend registered in ``makers/``.

A backend that needs a real server is marked ``services`` (``pytest -m "not services"`` runs
the suites on the in-memory and SQLite backends alone). ``backend_time`` moves time for the
backend under test: the fake clock of an in-memory backend, real seconds for the others.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.contract.makers import Maker, MakerContext, makers


@dataclass
class BackendTime:
    """Time as the backend under test sees it."""

    context: MakerContext
    fake: bool = False

    def now_ms(self) -> int:
        return self.context.clock.now_ms() if self.fake else time.time_ns() // 1_000_000

    async def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass: instantly on a fake clock, really for a server."""
        if self.fake:
            self.context.clock.advance(seconds)
            await anyio.lowlevel.checkpoint()
        else:
            await anyio.sleep(seconds)


@pytest.fixture
def backend_time(tmp_path: Path) -> BackendTime:
    return BackendTime(MakerContext(tmp_path=tmp_path))


def _port_fixture(kind: str) -> Callable[..., AsyncIterator[Any]]:
    """A fixture yielding a fresh backend from each maker in the modules' ``kind`` lists."""

    @pytest.fixture(
        params=[
            pytest.param(m, id=m.name, marks=[pytest.mark.services] if m.needs_service else [])
            for m in makers(kind)
        ]
    )
    async def backend(
        request: pytest.FixtureRequest, backend_time: BackendTime
    ) -> AsyncIterator[Any]:
        maker: Maker = request.param
        backend_time.fake = maker.fake_clock
        async with maker.make(backend_time.context) as opened:
            yield opened

    return backend


store = _port_fixture("STORES")
catalog = _port_fixture("CATALOGS")
store_and_catalog = _port_fixture("STORES_WITH_CATALOG")  # (store, catalog), one backend
job_queue = _port_fixture("JOB_QUEUES")
report_queue = _port_fixture("REPORT_QUEUES")
cache = _port_fixture("CACHES")
sessions = _port_fixture("SESSIONS")
liveness = _port_fixture("LIVENESS")
counters = _port_fixture("COUNTERS")
cursors = _port_fixture("CURSORS")
spool = _port_fixture("SPOOLS")
