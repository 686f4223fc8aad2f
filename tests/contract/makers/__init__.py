"""Backend makers for the contract suites, one module per technology.

Each module may define lists ``STORES``, ``JOB_QUEUES``, ``REPORT_QUEUES``, ``CACHES`` of
``Maker`` objects; the contract conftest parametrizes every port's suite over all of them,
so adding a backend is adding a module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MakerContext:
    tmp_path: Path


@dataclass(frozen=True)
class Maker:
    """``make(ctx)`` returns an async context manager yielding a fresh, empty backend."""

    name: str
    make: Callable[[MakerContext], AbstractAsyncContextManager[Any]]


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
