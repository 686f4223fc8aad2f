"""In-memory fakes of every port (``memory://``): tests, examples, one-process runs."""

from __future__ import annotations

from adapters.memory.catalog import InMemoryCatalog
from adapters.memory.extras import (
    InMemoryLivenessTracker,
    InMemoryRateCounters,
    InMemoryRotationCursors,
    InMemorySessionStore,
)
from adapters.memory.fakes import (
    FakeClock,
    InMemoryCache,
    InMemoryJobQueue,
    InMemoryMeasurementStore,
    InMemoryReportQueue,
    SystemClock,
    open_backend,
)

__all__ = [
    "FakeClock",
    "InMemoryCache",
    "InMemoryCatalog",
    "InMemoryJobQueue",
    "InMemoryLivenessTracker",
    "InMemoryMeasurementStore",
    "InMemoryRateCounters",
    "InMemoryReportQueue",
    "InMemoryRotationCursors",
    "InMemorySessionStore",
    "SystemClock",
    "open_backend",
]
