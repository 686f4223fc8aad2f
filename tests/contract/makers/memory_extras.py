"""In-memory makers for the session, liveness, rate-counter and rotation-cursor suites."""

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
from tests.contract.makers import Maker, MakerContext

# Every rate-counter maker keeps minutes for this long, so the suite can test pruning.
COUNTER_HORIZON_S = 600


def _maker(factory: Callable[[], Any]) -> Maker:
    @asynccontextmanager
    async def make(ctx: MakerContext) -> AsyncIterator[Any]:
        backend = factory()
        yield backend
        await backend.close()

    return Maker("memory", make)


SESSIONS = [_maker(InMemorySessionStore)]
LIVENESS = [_maker(InMemoryLivenessTracker)]
COUNTERS = [_maker(lambda: InMemoryRateCounters(horizon_s=COUNTER_HORIZON_S))]
CURSORS = [_maker(InMemoryRotationCursors)]
