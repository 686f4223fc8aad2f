"""Find a backend for a URL through entry points, so the core never imports adapters.

Each adapter module registers ``open_backend(url, port)`` under the entry-point group
``cloudperf.backends`` keyed by URL scheme (``memory``, ``sqlite``, ``mysql``, ``redis``,
``sqs``). A third-party package can add a scheme the same way.

>>> store = await open_store("sqlite:///tmp/cloudperf.db")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Literal, cast
from urllib.parse import urlsplit

from cloudperf_core.errors import BackendConfigError
from cloudperf_core.ports import Cache, Catalog, JobQueue, MeasurementStore, ReportQueue

ENTRY_POINT_GROUP = "cloudperf.backends"
PortName = Literal["store", "jobs", "reports", "cache", "catalog"]
BackendFactory = Callable[[str, PortName], Awaitable[object]]


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise BackendConfigError(f"not a backend URL (expected scheme://...): {redact_url(url)}")
    return scheme.split("+", 1)[0]


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def available_schemes() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def _factory(scheme: str) -> BackendFactory:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
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


async def open_backend(url: str, port: PortName) -> object:
    return await _factory(scheme_of(url))(url, port)


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
