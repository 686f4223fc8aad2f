"""The Redis connection boundary: URL settings, one pool per event loop, timeouts, retries,
error mapping.

Every Redis adapter call goes through :meth:`RedisLink.call`, so driver exceptions never leave
the adapter: connection failures and timeouts become :class:`BackendUnavailableError`, retried
under the URL's :class:`~adapters._retry.RetryPolicy` (a non-idempotent command only when it
cannot have reached the server: the connection failed before it was sent), bad credentials
:class:`BackendConfigError`, other server errors :class:`BackendError`. One attempt is bounded
by ``connect_timeout_s + 3 * timeout_s`` (connect, handshake, one command round trip), the
whole call by ``retries + 1`` attempts with backoff and by ``deadline_s``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta
from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection

from adapters._errors import cert_rejected
from adapters._loop import LoopBound
from adapters._options import parse_options, split_url
from adapters._retry import RetryPolicy, retrying
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
)

__all__ = ["DEFAULT_PREFIX", "RedisLink", "RedisOptions", "RedisSettings", "parse_redis_url"]

T = TypeVar("T")
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
# A hash tag: every key of one deployment lands in one cluster hash slot, so multi-key
# commands (DEL of several keys, MULTI/EXEC) also work on ElastiCache Serverless / clusters.
DEFAULT_PREFIX = "{cloudperf}:"

Seconds = Annotated[float, Meta(gt=0, le=3600)]


# --- configuration -------------------------------------------------------------------------


class RedisOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The query options of a ``redis://`` / ``rediss://`` URL, with ranges and defaults."""

    prefix: str = DEFAULT_PREFIX
    timeout_s: Seconds = 2.0  # each socket read or write
    connect_timeout_s: Seconds | None = None  # the TCP (and TLS) connect; default timeout_s
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    deadline_s: Seconds = 10.0  # one call including every retry and wait
    max_connections: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    horizon_s: Annotated[float, Meta(ge=60, le=366 * 86_400)] = 7200.0
    # The job queue drops a job after this many deliveries whose leases all lapsed.
    max_deliveries: Annotated[int, Meta(ge=1, le=1000)] = 5
    ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
    ssl_ca_certs: str | None = None
    ssl_check_hostname: bool = True
    cluster: bool = False  # ElastiCache Serverless / cluster mode: db 0 and a hash-tag prefix
    db: Annotated[int, Meta(ge=0, le=1_000_000)] = 0  # from the path, not the query


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    """Everything a Redis URL says; ``password`` is kept out of ``repr``."""

    url_redacted: str
    host: str
    port: int = 6379
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    options: RedisOptions = field(default_factory=RedisOptions)

    @property
    def db(self) -> int:
        return self.options.db

    @property
    def connect_timeout_s(self) -> float:
        return self.options.connect_timeout_s or self.options.timeout_s

    @property
    def retry_policy(self) -> RetryPolicy:
        o = self.options
        return RetryPolicy(
            max_attempts=o.retries + 1,
            attempt_timeout_s=self.connect_timeout_s + 3 * o.timeout_s,
            backoff_s=_BACKOFF_BASE_S,
            backoff_cap_s=_BACKOFF_CAP_S,
            deadline_s=o.deadline_s,
        )


def _hash_tag(prefix: str) -> str | None:
    start = prefix.find("{")
    end = prefix.find("}", start + 1)
    return prefix[start + 1 : end] if start >= 0 and end > start + 1 else None


def parse_redis_url(url: str) -> RedisSettings:
    """Validate a ``redis://`` or ``rediss://`` URL (BackendConfigError on anything wrong)."""
    parts = split_url(url)
    safe = parts.safe_url
    if parts.scheme not in ("redis", "rediss"):
        raise BackendConfigError(f"not a redis:// or rediss:// URL: {safe}")
    options = parse_options(parts, RedisOptions, db=parts.path.strip("/") or "0")
    if options.cluster:
        if options.db != 0:
            raise BackendConfigError(f"cluster mode (cluster=1) has database 0 only: {safe}")
        if _hash_tag(options.prefix) is None:
            raise BackendConfigError(
                f"cluster mode (cluster=1) needs a hash tag in the prefix, e.g. "
                f"prefix={DEFAULT_PREFIX}, so multi-key commands stay in one slot: {safe}"
            )
    return RedisSettings(
        url_redacted=safe,
        host=parts.host or "127.0.0.1",
        port=parts.port or 6379,
        username=parts.username,
        password=parts.password,
        tls=parts.scheme == "rediss",
        options=options,
    )


# --- connections and the error boundary ----------------------------------------------------


_CONFIG_ERRORS = (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError)


class _NotSentError(rx.ConnectionError):
    """Connecting (socket or handshake) failed, so no command was sent: always safe to retry."""


class _TlsVerifyError(rx.ConnectionError):
    """The server's TLS certificate was not accepted: a configuration problem, not a blip."""


async def _connect_or_not_sent(connect: Callable[[], Awaitable[None]]) -> None:
    try:
        await connect()
    except _CONFIG_ERRORS:
        raise
    except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
        if cert_rejected(exc):
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
    """One connection pool per event loop plus the timeout, retry and error-mapping policy of
    every call."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._clients: LoopBound[Redis] = LoopBound(self._open_client, self._close_client)

    def key(self, *parts: str) -> str:
        return self.settings.options.prefix + ":".join(parts)

    async def _open_client(self) -> Redis:
        s, o = self.settings, self.settings.options
        kwargs: dict[str, Any] = {
            "host": s.host,
            "port": s.port,
            "db": o.db,
            "username": s.username,
            "password": s.password,
            "socket_timeout": o.timeout_s,
            "socket_connect_timeout": s.connect_timeout_s,
            "connection_class": _TlsConnection if s.tls else _TcpConnection,
            # RESP2 works on every ElastiCache engine version (HELLO needs Redis 6+).
            "protocol": 2,
            # Retries are ours (below), so the driver must not retry on its own.
            "retry": None,
        }
        if o.max_connections is not None:
            kwargs["max_connections"] = o.max_connections
        if s.tls:
            kwargs.update(
                ssl_cert_reqs=o.ssl_cert_reqs,
                ssl_ca_certs=o.ssl_ca_certs,
                ssl_check_hostname=o.ssl_check_hostname and o.ssl_cert_reqs != "none",
            )
        return Redis(connection_pool=ConnectionPool(**kwargs))

    @staticmethod
    async def _close_client(client: Redis) -> None:
        await client.connection_pool.aclose()

    async def call(self, what: str, op: Callable[[Redis], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``op`` with the retry policy; ``idempotent`` says a blind retry is harmless."""
        safe = self.settings.url_redacted

        async def attempt() -> T:
            client = await self._clients.get()
            try:
                return await op(client)
            except (*_CONFIG_ERRORS, _TlsVerifyError) as exc:
                raise BackendConfigError(f"redis at {safe} refused {what}: {exc}") from exc
            except (rx.ConnectionError, rx.TimeoutError, TimeoutError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
                raise BackendUnavailableError(
                    f"redis at {safe} unavailable for {what}: {reason}"
                ) from exc
            except rx.RedisError as exc:
                raise BackendError(f"redis {what} failed at {safe}: {exc}") from exc

        def retry_if(error: CloudperfError) -> bool:
            # A command that may have reached the server runs again only if that is harmless
            # (an INCR sent twice would count twice); one whose connection failed never ran.
            return isinstance(error, BackendUnavailableError) and (
                idempotent or isinstance(error.__cause__, _NotSentError)
            )

        return await retrying(
            f"redis {what} at {safe}", attempt, self.settings.retry_policy, retry_if=retry_if
        )

    async def aclose(self) -> None:
        await self._clients.aclose()
