"""Find a backend for a URL through entry points, so the core never imports adapters.

Each adapter module registers ``open_backend(url, port, *, shared=None)`` under the entry-point
group ``cloudperf.backends`` keyed by URL scheme (``memory``, ``sqlite``, ``mysql``, ``redis``,
``rediss``, ``sqs``). A third-party package can add a scheme the same way. ``shared`` is the
:class:`SharedResources` of one composition root (:mod:`cloudperf_core.bootstrap`): ports opened
from one URL take their connection pool from it, so e.g. the five Redis-backed ports share one
pool; without it each port object owns its own and closes it in ``close()``.

Port names (:data:`PORTS`): ``store`` (MeasurementStore), ``catalog``, ``jobs`` (JobQueue),
``reports`` (ReportQueue), ``cache`` (Cache), ``sessions`` (SessionStore), ``liveness``
(LivenessTracker), ``counters`` (RateCounters), ``cursors`` (RotationCursors).

Applications open ports through :mod:`cloudperf_core.bootstrap`; ``open_store`` and friends
here open one port on its own (the caller closes it).

The probe agent's ports (:data:`AGENT_PORTS`) are opened the same way but on their own, by
:func:`open_agent_port`: ``probe_api`` (``http``/``https``: the API, with the probe's token
passed as an option, never in the URL) and ``spool`` (``sqlite``, ``memory``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Literal, TypeVar, cast, get_args

from cloudperf_core.errors import BackendConfigError, CloudperfError
from cloudperf_core.ports import (
    Cache,
    Catalog,
    JobQueue,
    MeasurementStore,
    ProbeApi,
    ReportQueue,
    ReportSpool,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "AGENT_PORTS",
    "ENTRY_POINT_GROUP",
    "PORTS",
    "PortName",
    "SharedResources",
    "available_schemes",
    "open_agent_port",
    "open_backend",
    "open_cache",
    "open_catalog",
    "open_job_queue",
    "open_probe_api",
    "open_report_queue",
    "open_report_spool",
    "open_store",
    "redact_url",
    "scheme_of",
]

ENTRY_POINT_GROUP = "cloudperf.backends"
PortName = Literal[
    "store", "catalog", "jobs", "reports", "cache", "sessions", "liveness", "counters", "cursors"
]
PORTS: tuple[PortName, ...] = get_args(PortName)
AgentPortName = Literal["probe_api", "spool"]
AGENT_PORTS: tuple[AgentPortName, ...] = get_args(AgentPortName)
BackendFactory = Callable[..., Awaitable[object]]
R = TypeVar("R")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_NETLOC = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#]*)")


def scheme_of(url: str) -> str:
    """``mysql`` for ``mysql://...`` (a ``+driver`` suffix is dropped), lower case."""
    match = _SCHEME.match(url)
    if not match:
        raise BackendConfigError(f"not a backend URL (expected scheme://...): {redact_url(url)}")
    return match.group(1).lower().split("+", 1)[0]


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs (never raises)."""
    match = _NETLOC.match(url)
    if not match:
        return url
    credentials, at, host = match["netloc"].rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{match['head']}{user}:***@{host}{url[match.end() :]}"


class SharedResources:
    """Connection pools and clients that several ports of one composition root share.

    An adapter asks for ``get(key, make, close)``: the first call makes the resource, later
    calls with the same key return it. :meth:`aclose` closes each resource once, newest
    first, after the ports that use it were closed.
    """

    def __init__(self) -> None:
        self._items: dict[Hashable, object] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def get(self, key: Hashable, make: Callable[[], R], close: Callable[[R], Awaitable[None]]) -> R:
        if key in self._items:
            return cast(R, self._items[key])
        item = make()
        self._items[key] = item

        async def closer() -> None:
            await close(item)

        self._closers.append(closer)
        return item

    async def aget(
        self,
        key: Hashable,
        make: Callable[[], Awaitable[R]],
        close: Callable[[R], Awaitable[None]],
    ) -> R:
        """:meth:`get` for a resource that takes awaiting to make (callers open one at a time)."""
        if key in self._items:
            return cast(R, self._items[key])
        item = await make()
        return self.get(key, lambda: item, close)

    def __len__(self) -> int:
        return len(self._items)

    async def aclose(self) -> None:
        closers, self._closers = self._closers[::-1], []
        self._items.clear()
        first: CloudperfError | None = None
        for close in closers:
            try:
                await close()
            except CloudperfError as exc:
                first = first or exc
        if first is not None:
            raise first


def _entry_points() -> list[EntryPoint]:
    # importlib.metadata costs a Lambda handler's cold import ~15 ms: read on first open.
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def available_schemes() -> list[str]:
    return sorted(ep.name for ep in _entry_points())


@functools.cache  # scanning the installed distributions costs ~30 ms; a failure is not kept
def _factory(scheme: str) -> BackendFactory:
    for ep in _entry_points():
        if ep.name == scheme:
            try:
                return cast(BackendFactory, ep.load())
            except ImportError as exc:
                raise BackendConfigError(
                    f"the {scheme}:// backend needs extra packages ({exc.name or exc}); "
                    "install them with: pip install 'cloudperf[aws]'"
                ) from exc
    known = ", ".join(available_schemes()) or "none installed"
    raise BackendConfigError(f"no backend for {scheme}:// (known schemes: {known})")


async def open_backend(url: str, port: PortName, shared: SharedResources | None = None) -> object:
    """The object serving ``port`` for ``url`` (BackendConfigError if the scheme cannot)."""
    if port not in PORTS:
        raise BackendConfigError(f"no port named {port!r} (ports: {', '.join(PORTS)})")
    factory = _factory(scheme_of(url))
    if shared is None:
        return await factory(url, port)
    return await factory(url, port, shared=shared)


async def open_store(url: str) -> MeasurementStore:
    return cast(MeasurementStore, await open_backend(url, "store"))


async def open_job_queue(url: str) -> JobQueue:
    return cast(JobQueue, await open_backend(url, "jobs"))


async def open_report_queue(url: str) -> ReportQueue:
    return cast(ReportQueue, await open_backend(url, "reports"))


async def open_cache(url: str) -> Cache:
    return cast(Cache, await open_backend(url, "cache"))


async def open_catalog(url: str) -> Catalog:
    return cast(Catalog, await open_backend(url, "catalog"))


async def open_agent_port(url: str, port: AgentPortName, **options: object) -> object:
    """One of the probe agent's ports for ``url``; ``options`` go to the adapter (e.g. the
    probe API's ``token``, which must never be part of a URL)."""
    if port not in AGENT_PORTS:
        raise BackendConfigError(f"no agent port named {port!r} (ports: {', '.join(AGENT_PORTS)})")
    return await _factory(scheme_of(url))(url, port, **options)


async def open_probe_api(url: str, token: str, *, timeout_s: float = 30.0) -> ProbeApi:
    return cast(ProbeApi, await open_agent_port(url, "probe_api", token=token, timeout_s=timeout_s))


async def open_report_spool(url: str) -> ReportSpool:
    return cast(ReportSpool, await open_agent_port(url, "spool"))
