"""The one composition root: a :class:`Config` of backend URLs -> :class:`Services`.

Everything that runs cloudperf (the CLI, benchmarks, tests, later the Lambda handlers and
``cloudperf serve``) builds its ports here, and nothing else reads the environment:

=====================  ==========================  ============================================
``Config`` field       environment variable        default
=====================  ==========================  ============================================
``store``              ``CLOUDPERF_STORE``         SQLite file in the user data directory
``catalog``            ``CLOUDPERF_CATALOG``       the store's URL
``jobs``               ``CLOUDPERF_JOBS``          ``memory://default``
``reports``            ``CLOUDPERF_REPORTS``       ``memory://default``
``cache``              ``CLOUDPERF_CACHE``         ``memory://default`` (also serves sessions,
                                                   liveness, counters and cursors)
``fping_path``         ``CLOUDPERF_FPING``         fping found on ``PATH``
``db_secret_arn``      ``CLOUDPERF_DB_SECRET_ARN`` none: with no store URL, the store is MySQL
                                                   with the credentials of this secret
``db_name``            ``CLOUDPERF_DB_NAME``       the secret's ``dbname``
``db_options``         ``CLOUDPERF_DB_OPTIONS``    none (``mysql://`` query options)
=====================  ==========================  ============================================

Flags win over the environment, the environment over the defaults. ``memory://default``
keeps queues and caches in this process, shared by everything in it, so with no
configuration at all a local server runs on SQLite plus in-process queues.

On Lambda no store URL is set: the database's credentials live in a Secrets Manager secret
(the JSON RDS writes: ``username``, ``password``, ``host``, ``port``, ``dbname``). Its ARN
makes the config *pending* (:attr:`Config.needs_db_secret`); whoever fetched the secret's
text (``lambda_entry``, once per container) turns it into the ``mysql://`` URL with
:meth:`Config.with_db_secret`, the password percent-encoded.

``Services`` opens each port through the backend registry (:mod:`cloudperf_core.backends`)
on first use, or eagerly for the names given to :meth:`Services.open` (a Lambda handler
opens only what it needs). Ports of one URL share one connection pool; :meth:`Services.aclose`
closes every port and pool once.

>>> config = Config.from_env(store="sqlite:///tmp/cp.db")     # doctest: +SKIP
>>> async with Services(config) as services:                   # doctest: +SKIP
...     store = await services.store()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import quote

import anyio
import msgspec

from cloudperf_core.backends import PORTS, PortName, SharedResources, open_backend, redact_url
from cloudperf_core.errors import BackendConfigError, BackendError, CloudperfError
from cloudperf_core.ports import (
    Cache,
    Catalog,
    JobQueue,
    LivenessTracker,
    MeasurementStore,
    RateCounters,
    ReportQueue,
    RotationCursors,
    SessionStore,
)
from cloudperf_core.settings import ServiceSettings, settings_from_env

if TYPE_CHECKING:
    from cloudperf_core.service.scheduling import TickPorts

__all__ = ["ENV_VARS", "LOCAL_URL", "Config", "DbSecret", "Services", "default_store_url"]


class _Closable(Protocol):
    async def close(self) -> None: ...


LOCAL_URL = "memory://default"
ENV_VARS: dict[str, str] = {
    "store": "CLOUDPERF_STORE",
    "catalog": "CLOUDPERF_CATALOG",
    "jobs": "CLOUDPERF_JOBS",
    "reports": "CLOUDPERF_REPORTS",
    "cache": "CLOUDPERF_CACHE",
    "fping_path": "CLOUDPERF_FPING",
    "db_secret_arn": "CLOUDPERF_DB_SECRET_ARN",
    "db_name": "CLOUDPERF_DB_NAME",
    "db_options": "CLOUDPERF_DB_OPTIONS",
}
# The ports served by the cache URL.
_CACHE_PORTS = frozenset({"cache", "sessions", "liveness", "counters", "cursors"})


def default_store_url() -> str:
    """A SQLite file in the user's data directory (``platformdirs``)."""
    import platformdirs

    data_dir = Path(platformdirs.user_data_dir("cloudperf", appauthor=False))
    return f"sqlite:///{data_dir / 'cloudperf.db'}"


class DbSecret(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of an RDS/Aurora Secrets Manager secret that make a ``mysql://`` URL."""

    username: str
    password: str
    host: str
    port: int = 3306
    dbname: str | None = None

    def __repr__(self) -> str:
        return f"DbSecret(username={self.username!r}, host={self.host!r}, port={self.port})"


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Backend URLs for every port, plus the other settings taken from the environment.

    ``store`` is empty while it is still to come from the database secret
    (:attr:`needs_db_secret`).
    """

    store: str
    catalog: str | None = None  # None: the store's URL
    jobs: str = LOCAL_URL
    reports: str = LOCAL_URL
    cache: str = LOCAL_URL
    fping_path: str | None = None  # None: fping on PATH
    # The store from a Secrets Manager secret, when no store URL is given (Lambda).
    db_secret_arn: str | None = None
    db_name: str | None = None  # None: the secret's dbname
    db_options: str | None = None  # mysql:// query options, e.g. pool_size=2&connect_timeout_s=5
    # The service's knobs (``CLOUDPERF_<FIELD>``; see cloudperf_core.settings).
    settings: ServiceSettings = msgspec.field(default_factory=ServiceSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: str | None) -> Config:
        """The config from flags (``None`` = flag not given), then ``CLOUDPERF_*``, then defaults.

        ``environ`` defaults to ``os.environ``; an empty variable counts as unset.
        """
        unknown = flags.keys() - ENV_VARS.keys()
        if unknown:
            raise BackendConfigError(f"unknown config setting(s): {', '.join(sorted(unknown))}")
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name, variable in ENV_VARS.items():
            value = flags.get(name) or env.get(variable)
            if value:
                values[name] = value
        if "store" not in values:
            values["store"] = "" if "db_secret_arn" in values else default_store_url()
        return cls(**values, settings=settings_from_env(env))

    @property
    def needs_db_secret(self) -> bool:
        """True while the store's URL is still to be built from the database secret."""
        return not self.store and self.db_secret_arn is not None

    def with_db_secret(self, secret_string: str) -> Config:
        """This config with the store (and a catalogue on it) at the database the secret names.

        ``secret_string`` is the secret's JSON text. Errors never quote it.
        """
        try:
            secret = msgspec.json.decode(secret_string, type=DbSecret)
        except msgspec.DecodeError as exc:
            # msgspec names the field and the expected type, never the value.
            raise BackendConfigError(
                f"the database secret {self.db_secret_arn} is not the JSON of a database "
                f"secret (username, password, host, port): {exc}"
            ) from None
        database = self.db_name or secret.dbname
        if not database:
            raise BackendConfigError(
                f"no database name: set CLOUDPERF_DB_NAME (the secret {self.db_secret_arn} "
                "has no dbname)"
            )
        url = (
            f"mysql://{quote(secret.username, safe='')}:{quote(secret.password, safe='')}"
            f"@{secret.host}:{secret.port}/{quote(database, safe='')}"
        )
        if self.db_options:
            url += "?" + self.db_options.lstrip("?")
        return msgspec.structs.replace(self, store=url)

    def url_for(self, port: PortName) -> str:
        """The backend URL that serves ``port``."""
        if self.needs_db_secret and (port == "store" or (port == "catalog" and not self.catalog)):
            raise BackendConfigError(
                f"the {port}'s URL comes from the database secret {self.db_secret_arn}: "
                "fetch it first (Config.with_db_secret)"
            )
        if port == "catalog":
            return self.catalog or self.store
        if port in _CACHE_PORTS:
            return self.cache
        if port in ("store", "jobs", "reports"):
            return cast(str, getattr(self, port))
        raise BackendConfigError(f"no port named {port!r} (ports: {', '.join(PORTS)})")

    def __repr__(self) -> str:
        # URLs carry passwords: a config in a log line or traceback shows them redacted.
        fields = ", ".join(
            f"{name}={redact_url(value) if isinstance(value, str) else value!r}"
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None
        )
        return f"Config({fields})"


class Services:
    """Every port of one application, opened from a :class:`Config`, closed by one ``aclose``.

    Each ``await services.<port>()`` opens that port on first use and returns the same object
    afterwards. Build one per process and keep it (a module global in a Lambda handler):
    adapters reconnect by themselves when a later call runs in a new event loop.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._shared = SharedResources()
        self._ports: dict[PortName, object] = {}
        self._lock = anyio.Lock()
        self._closed = False

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def opened(self) -> tuple[PortName, ...]:
        """The names of the ports opened so far, in opening order."""
        return tuple(self._ports)

    async def open(self, *ports: PortName) -> Services:
        """Open ``ports`` now (a bad URL or missing driver fails here, not on first use)."""
        for port in ports:
            await self.port(port)
        return self

    async def port(self, name: PortName) -> object:
        """The object serving port ``name``, opened on first use."""
        found = self._ports.get(name)
        if found is not None:
            return found
        async with self._lock:
            if self._closed:
                raise BackendError("these services are closed")
            if name not in self._ports:
                url = self.config.url_for(name)
                self._ports[name] = await open_backend(url, name, self._shared)
            return self._ports[name]

    async def store(self) -> MeasurementStore:
        return cast(MeasurementStore, await self.port("store"))

    async def catalog(self) -> Catalog:
        return cast(Catalog, await self.port("catalog"))

    async def jobs(self) -> JobQueue:
        return cast(JobQueue, await self.port("jobs"))

    async def reports(self) -> ReportQueue:
        return cast(ReportQueue, await self.port("reports"))

    async def cache(self) -> Cache:
        return cast(Cache, await self.port("cache"))

    async def sessions(self) -> SessionStore:
        return cast(SessionStore, await self.port("sessions"))

    async def liveness(self) -> LivenessTracker:
        return cast(LivenessTracker, await self.port("liveness"))

    async def counters(self) -> RateCounters:
        return cast(RateCounters, await self.port("counters"))

    async def cursors(self) -> RotationCursors:
        return cast(RotationCursors, await self.port("cursors"))

    async def tick_ports(self) -> TickPorts:
        """The ports one scheduler tick uses (``cloudperf serve``, the scheduler Lambda)."""
        from cloudperf_core.service.scheduling import TickPorts

        return TickPorts(
            catalog=await self.catalog(),
            jobs=await self.jobs(),
            liveness=await self.liveness(),
            cursors=await self.cursors(),
            cache=await self.cache(),
            counters=await self.counters(),
            store=await self.store(),
        )

    async def aclose(self) -> None:
        """Close every opened port once, then the pools they share; idempotent.

        Every close is attempted; the first error (a CloudperfError) is raised afterwards.
        """
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            ports, self._ports = list(self._ports.values()), {}
        first: CloudperfError | None = None
        seen: set[int] = set()
        for port in reversed(ports):
            if id(port) in seen:
                continue
            seen.add(id(port))
            try:
                await cast(_Closable, port).close()
            except CloudperfError as exc:
                first = first or exc
        try:
            await self._shared.aclose()
        except CloudperfError as exc:
            first = first or exc
        if first is not None:
            raise first
