"""In-memory fakes of every port (``memory://``, ``memory://NAME``): tests, examples,
one-process runs (see :mod:`adapters.memory.registry` for URLs and sharing)."""

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
    InMemoryMeasurementStore,
    InMemoryReportQueue,
    SystemClock,
)
from adapters.memory.jobs import InMemoryJobQueue
from adapters.memory.registry import open_backend
from adapters.memory.spool import InMemoryReportSpool

__all__ = [
    "FakeClock",
    "InMemoryCache",
    "InMemoryCatalog",
    "InMemoryJobQueue",
    "InMemoryLivenessTracker",
    "InMemoryMeasurementStore",
    "InMemoryRateCounters",
    "InMemoryReportQueue",
    "InMemoryReportSpool",
    "InMemoryRotationCursors",
    "InMemorySessionStore",
    "SystemClock",
    "open_backend",
]
