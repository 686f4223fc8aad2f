"""Backend makers for the contract suites, one module per technology.

Each module may define lists ``STORES``, ``JOB_QUEUES``, ``REPORT_QUEUES``, ``CACHES`` of
``Maker`` objects; the contract conftest parametrizes every port's suite over all of them,
so adding a backend is adding a module here.

Time: a maker with ``fake_clock=True`` builds its backend on ``ctx.clock`` (a ``FakeClock``), so
a suite that waits for a TTL or a lease advances that clock instead of sleeping; the others run
on the server's own clock and the suite really waits (briefly). Suites go through the
``test_time`` fixture, which knows which one applies.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.memory import FakeClock


@dataclass(frozen=True)
class MakerContext:
    tmp_path: Path
    clock: FakeClock = field(default_factory=FakeClock)


@dataclass(frozen=True)
class Maker:
    """``make(ctx)`` returns an async context manager yielding a fresh, empty backend.

    ``needs_service``: the backend talks to a real server (MariaDB, Redis, the SQS emulator);
    its tests are marked ``services``. ``fake_clock``: the backend reads ``ctx.clock``.
    """

    name: str
    make: Callable[[MakerContext], AbstractAsyncContextManager[Any]]
    needs_service: bool = False
    fake_clock: bool = False


def _modules() -> list[Any]:
    out = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        out.append(importlib.import_module(f"{__name__}.{info.name}"))
    return out


def makers(kind: str) -> list[Maker]:
    found: list[Maker] = []
    for module in _modules():
        found.extend(getattr(module, kind, []))
    return found


__all__ = ["AsyncIterator", "Maker", "MakerContext", "makers"]
