"""In-memory makers for the session, liveness, rate-counter, rotation-cursor and spool
suites."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from adapters.memory.extras import (
    InMemoryLivenessTracker,
    InMemoryRateCounters,
    InMemoryRotationCursors,
    InMemorySessionStore,
)
from adapters.memory.spool import InMemoryReportSpool
from tests.contract.makers import Maker, MakerContext

# Every rate-counter maker keeps minutes for this long, so the suite can test pruning.
COUNTER_HORIZON_S = 600


def _maker(factory: Callable[[MakerContext], Any]) -> Maker:
    @asynccontextmanager
    async def make(ctx: MakerContext) -> AsyncIterator[Any]:
        backend = factory(ctx)
        yield backend
        await backend.close()

    return Maker("memory", make, fake_clock=True)


SESSIONS = [_maker(lambda ctx: InMemorySessionStore(clock=ctx.clock))]
LIVENESS = [_maker(lambda ctx: InMemoryLivenessTracker())]
COUNTERS = [_maker(lambda ctx: InMemoryRateCounters(horizon_s=COUNTER_HORIZON_S, clock=ctx.clock))]
CURSORS = [_maker(lambda ctx: InMemoryRotationCursors())]
SPOOLS = [_maker(lambda ctx: InMemoryReportSpool(clock=ctx.clock))]
