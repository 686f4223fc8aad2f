"""``memory://`` URLs: in-memory fakes of every port, private or shared by name.

- ``memory://`` opens a fresh, empty instance each time (nothing is shared);
- ``memory://NAME`` returns the same instance for the same NAME and port within a process,
  so two openers share state (``cloudperf serve`` with its in-process worker, or a test and
  the code under test). Options count when a name is first opened. A test that needs an empty
  one uses a name of its own, e.g. ``f"memory://{uuid.uuid4().hex}"``.

Options: ``max_receives`` (report queue: deliveries before a message dead-letters, 5) and
``horizon_s`` (rate counters: how long minutes are kept, 7200).

>>> jobs = await open_backend("memory://local", "jobs")                 # doctest: +SKIP
>>> jobs is await open_backend("memory://local", "jobs")                # doctest: +SKIP
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

import anyio.lowlevel
import msgspec
from msgspec import Meta

from adapters._options import parse_options, split_url
from adapters.memory.catalog import InMemoryCatalog
from adapters.memory.extras import (
    InMemoryLivenessTracker,
    InMemoryRateCounters,
    InMemoryRotationCursors,
    InMemorySessionStore,
)
from adapters.memory.fakes import (
    InMemoryCache,
    InMemoryMeasurementStore,
    InMemoryReportQueue,
)
from adapters.memory.jobs import InMemoryJobQueue
from adapters.memory.spool import InMemoryReportSpool
from cloudperf_core.backends import SharedResources
from cloudperf_core.errors import BackendConfigError

__all__ = ["MemoryOptions", "open_backend"]


class MemoryOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    max_receives: Annotated[int, Meta(ge=1, le=1000)] = 5
    horizon_s: Annotated[float, Meta(ge=60, le=366 * 86_400)] = 7200.0


_FACTORIES: dict[str, Callable[[MemoryOptions], object]] = {
    "store": lambda o: InMemoryMeasurementStore(),
    "catalog": lambda o: InMemoryCatalog(),
    "jobs": lambda o: InMemoryJobQueue(),
    "reports": lambda o: InMemoryReportQueue(max_receives=o.max_receives),
    "cache": lambda o: InMemoryCache(),
    "sessions": lambda o: InMemorySessionStore(),
    "liveness": lambda o: InMemoryLivenessTracker(),
    "counters": lambda o: InMemoryRateCounters(horizon_s=o.horizon_s),
    "cursors": lambda o: InMemoryRotationCursors(),
    "spool": lambda o: InMemoryReportSpool(),  # the probe agent's (backends.open_agent_port)
}

# (name, port) -> instance, for the life of the process. Plain threading lock: opening may
# happen from several event loops (threads) of one process.
_named: dict[tuple[str, str], object] = {}
_named_lock = threading.Lock()


async def open_backend(url: str, port: str, *, shared: SharedResources | None = None) -> object:
    """The in-memory fake for ``port``: fresh for ``memory://``, shared for ``memory://NAME``.

    ``shared`` is accepted for the registry's sake; named instances are shared process-wide.
    """
    await anyio.lowlevel.checkpoint()
    parts = split_url(url)
    if parts.scheme != "memory" or parts.path.strip("/"):
        raise BackendConfigError(f"expected memory:// or memory://NAME, not {parts.safe_url}")
    options = parse_options(parts, MemoryOptions)
    make = _FACTORIES.get(port)
    if make is None:
        raise BackendConfigError(f"memory:// has no port named {port!r}")
    if not parts.location:
        return make(options)
    with _named_lock:
        key = (parts.location, port)
        if key not in _named:
            _named[key] = make(options)
        return _named[key]
