"""The Redis connection boundary: URL settings, one pool, timeouts, retries, error mapping.

Every Redis adapter call goes through :meth:`RedisLink.call`, so driver exceptions never leave
the adapter: connection failures and timeouts become :class:`BackendUnavailableError` after
``retries`` retries with exponential backoff and jitter (a non-idempotent command is retried
only when it cannot have reached the server: the connection failed before it was sent), bad
credentials :class:`BackendConfigError`, other server errors :class:`BackendError`. Each
attempt is bounded by the socket timeouts and, as a hang guard, an overall deadline.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection

from cloudperf_core.backends import redact_url
from cloudperf_core.errors import BackendConfigError, BackendError, BackendUnavailableError

__all__ = ["RedisLink", "RedisSettings", "parse_redis_url"]

T = TypeVar("T")
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
_CERT_REQS = ("required", "optional", "none")


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    """Everything a Redis URL says; ``password`` is kept out of ``repr``."""

    url_redacted: str
    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None
    ssl_check_hostname: bool = True
    prefix: str = "cloudperf:"
    timeout_s: float = 2.0
    connect_timeout_s: float = 2.0
    retries: int = 2
    max_connections: int | None = None
    horizon_s: float = 7200.0

    @property
    def attempt_deadline_s(self) -> float:
        """Hang guard for one attempt: connect, a handshake and a command round trip."""
        return self.connect_timeout_s + 3 * self.timeout_s


def _positive(name: str, raw: str, url: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise BackendConfigError(f"{name} must be a positive number of seconds in {url}")
    return value


def _count(name: str, raw: str, url: str, minimum: int) -> int:
    if not raw.isdigit() or int(raw) < minimum:
        raise BackendConfigError(f"{name} must be an integer >= {minimum} in {url}")
    return int(raw)


def parse_redis_url(url: str) -> RedisSettings:
    """Validate a ``redis://`` or ``rediss://`` URL (BackendConfigError on anything wrong)."""
    safe = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise BackendConfigError(f"not a redis:// or rediss:// URL: {safe}")
    try:
        port = parts.port or 6379
    except ValueError as exc:
        raise BackendConfigError(f"bad port in {safe}") from exc
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdigit():
        raise BackendConfigError(f"the path must be a database number in {safe}")
    opts: dict[str, Any] = {}
    timeout_s: float | None = None
    connect_timeout_s: float | None = None
    for name, raw in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            opts["prefix"] = raw
        elif name == "timeout_s":
            timeout_s = _positive(name, raw, safe)
        elif name == "connect_timeout_s":
            connect_timeout_s = _positive(name, raw, safe)
        elif name == "horizon_s":
            opts["horizon_s"] = _positive(name, raw, safe)
        elif name == "retries":
            opts["retries"] = _count(name, raw, safe, 0)
        elif name == "max_connections":
            opts["max_connections"] = _count(name, raw, safe, 1)
        elif name == "ssl_cert_reqs":
            if raw not in _CERT_REQS:
                raise BackendConfigError(f"ssl_cert_reqs must be one of {_CERT_REQS} in {safe}")
            opts["ssl_cert_reqs"] = raw
        elif name == "ssl_ca_certs":
            opts["ssl_ca_certs"] = raw
        elif name == "ssl_check_hostname":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise BackendConfigError(f"ssl_check_hostname must be true or false in {safe}")
            opts["ssl_check_hostname"] = raw.lower() in ("true", "1")
        else:
            raise BackendConfigError(f"unknown option {name!r} in {safe}")
    timeout_s = timeout_s or 2.0
    return RedisSettings(
        url_redacted=safe,
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(db_text),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=parts.scheme == "rediss",
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s or timeout_s,
        **opts,
    )


# --- connections and the error boundary ----------------------------------------------------


_CONFIG_ERRORS = (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError)


class _NotSentError(rx.ConnectionError):
    """Connecting (socket or handshake) failed, so no command was sent: always safe to retry."""


class _TlsVerifyError(rx.ConnectionError):
    """The server's TLS certificate was not accepted: a configuration problem, not a blip."""


def _cert_rejected(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def _connect_or_not_sent(connect: Callable[[], Awaitable[None]]) -> None:
    try:
        await connect()
    except _CONFIG_ERRORS:
        raise
    except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
        if _cert_rejected(exc):
            raise _TlsVerifyError(str(exc)) from exc
        raise _NotSentError(str(exc)) from exc


class _TcpConnection(Connection):
    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        parent = super().connect_check_health
        await _connect_or_not_sent(lambda: parent(check_health, retry_socket_connect))


class _TlsConnection(SSLConnection):
    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        parent = super().connect_check_health
        await _connect_or_not_sent(lambda: parent(check_health, retry_socket_connect))


class RedisLink:
    """One connection pool plus the timeout, retry and error-mapping policy of every call."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._pool: ConnectionPool | None = None
        self._client: Redis | None = None

    def key(self, *parts: str) -> str:
        return self.settings.prefix + ":".join(parts)

    def _make_pool(self) -> ConnectionPool:
        s = self.settings
        kwargs: dict[str, Any] = {
            "host": s.host,
            "port": s.port,
            "db": s.db,
            "username": s.username,
            "password": s.password,
            "socket_timeout": s.timeout_s,
            "socket_connect_timeout": s.connect_timeout_s,
            "connection_class": _TlsConnection if s.tls else _TcpConnection,
            # RESP2 works on every ElastiCache engine version (HELLO needs Redis 6+).
            "protocol": 2,
            # Retries are ours (below), so the driver must not retry on its own.
            "retry": None,
        }
        if s.max_connections is not None:
            kwargs["max_connections"] = s.max_connections
        if s.tls:
            kwargs.update(
                ssl_cert_reqs=s.ssl_cert_reqs,
                ssl_ca_certs=s.ssl_ca_certs,
                ssl_check_hostname=s.ssl_check_hostname and s.ssl_cert_reqs != "none",
            )
        return ConnectionPool(**kwargs)

    def client(self) -> Redis:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError as exc:
            raise BackendConfigError("the redis adapter needs an asyncio event loop") from exc
        if self._client is None or self._loop is None or self._loop() is not loop:
            # Connections belong to the loop that opened them; a new loop (a new
            # asyncio.run per Lambda invocation) gets a new pool. The old one's sockets
            # died with their loop.
            self._pool = self._make_pool()
            self._client = Redis(connection_pool=self._pool)
            self._loop = weakref.ref(loop)
        return self._client

    async def call(self, what: str, op: Callable[[Redis], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``op`` with the retry policy; ``idempotent`` says a blind retry is harmless."""
        s = self.settings
        last: Exception | None = None
        for attempt in range(s.retries + 1):
            if attempt:
                delay_s = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))
                await anyio.sleep(delay_s * (0.5 + random.random() / 2))
            try:
                with anyio.fail_after(s.attempt_deadline_s):
                    return await op(self.client())
            except (*_CONFIG_ERRORS, _TlsVerifyError) as exc:
                raise BackendConfigError(
                    f"redis at {s.url_redacted} refused {what}: {exc}"
                ) from exc
            except _NotSentError as exc:
                last = exc
            except (rx.ConnectionError, rx.TimeoutError, TimeoutError, OSError) as exc:
                last = exc
                if not idempotent:
                    break  # the command may have run; running it again could count twice
            except rx.RedisError as exc:
                raise BackendError(f"redis {what} failed at {s.url_redacted}: {exc}") from exc
        reason = str(last) or type(last).__name__
        raise BackendUnavailableError(
            f"redis at {s.url_redacted} unavailable for {what}: {reason}"
        ) from last

    async def aclose(self) -> None:
        pool, loop = self._pool, self._loop() if self._loop else None
        self._pool = self._client = self._loop = None
        if pool is not None and loop is asyncio.get_running_loop():
            await pool.aclose()
