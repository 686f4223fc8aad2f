"""Every port's contract suite runs against every backend registered in ``makers/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.contract.makers import Maker, MakerContext, makers


def _port_fixture(kind: str) -> Callable[..., AsyncIterator[Any]]:
    """A fixture yielding a fresh backend from each maker in the modules' ``kind`` lists."""

    @pytest.fixture(params=[pytest.param(m, id=m.name) for m in makers(kind)])
    async def backend(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
        maker: Maker = request.param
        async with maker.make(MakerContext(tmp_path=tmp_path)) as opened:
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
