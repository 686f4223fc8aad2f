"""Connection handling for the Aurora MySQL adapter: URL options, pool, retries, errors.

Everything that touches asyncmy's exceptions lives here, so driver errors are translated at
one boundary: transient ones (lost connection, killed connection, deadlock, lock wait
timeout, timeouts) become :class:`BackendUnavailableError` after a bounded number of retries
with backoff; everything else becomes :class:`BackendError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import asyncmy
from asyncmy.cursors import Cursor

from cloudperf_core.backends import redact_url
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
)

__all__ = [
    "AuroraConfig",
    "Database",
    "Tx",
    "driver_errors",
    "error_code",
    "is_transient",
    "placeholders",
    "rows_placeholders",
    "translate",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
Tx = Cursor  # a cursor inside an open transaction

# Client errors (2xxx) that mean the connection is gone, and server errors a retry can fix.
_TRANSIENT_CODES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1205,  # lock wait timeout
        1213,  # deadlock
        1927,  # connection was killed (MariaDB)
        2002,  # can't connect (socket)
        2003,  # can't connect (TCP)
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection (system error)
    }
)
_DUPLICATE_KEY = 1062
_NO_SUCH_TABLE = 1146
_ACCESS_DENIED = frozenset({1044, 1045, 1049, 1698})  # denied, bad password, unknown db


def placeholders(n: int) -> str:
    """``%s, %s, ...`` with ``n`` placeholders, for ``IN (...)`` lists (never values)."""
    if n < 1:
        raise ValueError("an IN list needs at least one placeholder")
    return ", ".join(["%s"] * n)


def rows_placeholders(n_rows: int, n_cols: int) -> str:
    """``(%s, %s), (%s, %s), ...``: ``n_rows`` row constructors of ``n_cols`` placeholders."""
    row = "(" + placeholders(n_cols) + ")"
    return ", ".join([row] * n_rows)


@dataclass(frozen=True, kw_only=True)
class AuroraConfig:
    """Options parsed from ``mysql://user:pass@host:port/db?option=value&...``.

    Query options: ``pool_size`` (max connections, default 10), ``pool_min`` (kept open, 0),
    ``connect_timeout_s`` (5), ``statement_timeout_s`` (per transaction attempt, 30),
    ``max_attempts`` (for transient errors, 4), ``backoff_s`` (first retry delay, 0.05),
    ``pool_recycle_s`` (3600).
    """

    host: str
    port: int
    user: str
    password: str
    database: str
    pool_size: int = 10
    pool_min: int = 0
    connect_timeout_s: float = 5.0
    statement_timeout_s: float = 30.0
    max_attempts: int = 4
    backoff_s: float = 0.05
    pool_recycle_s: int = 3600
    redacted_url: str = ""

    @classmethod
    def from_url(cls, url: str) -> AuroraConfig:
        safe = redact_url(url)
        parts = urlsplit(url)
        if parts.scheme.split("+", 1)[0].lower() != "mysql":
            raise BackendConfigError(f"not a mysql:// URL: {safe}")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise BackendConfigError(f"the mysql URL needs a database name: {safe}")
        ints = {"pool_size", "pool_min", "max_attempts", "pool_recycle_s"}
        floats = {"connect_timeout_s", "statement_timeout_s", "backoff_s"}
        options: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            try:
                if key in ints:
                    options[key] = int(value)
                elif key in floats:
                    options[key] = float(value)
                else:
                    known = ", ".join(sorted(ints | floats))
                    raise BackendConfigError(f"unknown mysql URL option {key!r} (known: {known})")
            except ValueError as exc:
                raise BackendConfigError(
                    f"mysql URL option {key}={value!r} is not a number"
                ) from exc
        try:
            port = parts.port or 3306
        except ValueError as exc:
            raise BackendConfigError(f"bad port in mysql URL: {safe}") from exc
        config = cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
            redacted_url=safe,
            **options,
        )
        if config.pool_size < 1 or not 0 <= config.pool_min <= config.pool_size:
            raise BackendConfigError(
                "mysql URL: need pool_size >= 1 and 0 <= pool_min <= pool_size"
            )
        if config.max_attempts < 1 or config.statement_timeout_s <= 0:
            raise BackendConfigError("mysql URL: need max_attempts >= 1, statement_timeout_s > 0")
        return config

    def connect_kwargs(self, *, database: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": self.connect_timeout_s,
            "read_timeout": self.statement_timeout_s,
            "charset": "utf8mb4",
            "autocommit": False,
            # Both servers honour this; it keeps sessions identical on MySQL 8 and MariaDB.
            "init_command": "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE'",
        }
        if database:
            kwargs["database"] = self.database
        return kwargs


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | ConnectionError | asyncio.IncompleteReadError):
        return True
    if isinstance(exc, asyncmy.errors.InterfaceError):
        return True
    return error_code(exc) in _TRANSIENT_CODES


def translate(exc: BaseException, what: str, safe_url: str) -> CloudperfError:
    """The CloudperfError for a driver exception (the password never appears)."""
    code = error_code(exc)
    detail = f"{what} on {safe_url} failed: {type(exc).__name__} {exc}"
    if is_transient(exc):
        return BackendUnavailableError(detail)
    if code in _ACCESS_DENIED:
        return BackendConfigError(detail)
    if code == _NO_SUCH_TABLE:
        return BackendConfigError(
            f"{detail}; the schema is missing: run `cloudperf db migrate --store {safe_url}`"
        )
    return BackendError(detail)


_DRIVER_ERRORS = (asyncmy.errors.MySQLError, OSError, TimeoutError, asyncio.IncompleteReadError)


class Database:
    """A lazily created asyncmy pool plus the transaction runner every query goes through.

    The pool is bound to the event loop that created it; a Lambda container that runs each
    invocation in a fresh loop gets a new pool transparently, one that keeps its loop reuses
    the open connections.
    """

    def __init__(self, config: AuroraConfig) -> None:
        self.config = config
        self._pool: Any = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._pool_lock: asyncio.Lock | None = None
        # Test seams: awaited with the connection id just before COMMIT of a write
        # transaction; called with each statement's SQL (set before first use).
        self.before_commit: Callable[[int], Awaitable[None]] | None = None
        self.on_statement: Callable[[str], None] | None = None

    async def _get_pool(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._pool_loop is loop:
            return self._pool
        if self._pool_lock is None or self._pool_loop is not loop:
            self._pool_lock = asyncio.Lock()
            self._pool = None
            self._pool_loop = loop
        async with self._pool_lock:
            if self._pool is None:
                cfg = self.config
                kwargs = cfg.connect_kwargs()
                if self.on_statement is not None:
                    observer = self.on_statement
                    kwargs["query_callback"] = lambda _cur, query, _ms: observer(query)
                self._pool = await asyncmy.create_pool(
                    minsize=cfg.pool_min,
                    maxsize=cfg.pool_size,
                    pool_recycle=cfg.pool_recycle_s,
                    **kwargs,
                )
        return self._pool

    async def run(
        self,
        what: str,
        body: Callable[[Tx], Awaitable[T]],
        *,
        write: bool = True,
        retry_duplicate_key: bool = False,
    ) -> T:
        """Run ``body`` in one transaction, retrying the whole of it on transient errors.

        A retry is safe because every write body is idempotent (ingest checks report ids in
        the same transaction; upserts overwrite with merged values read under lock).
        ``retry_duplicate_key`` treats a duplicate key as a lost race with a concurrent
        writer, which the next attempt sees and handles.
        """
        cfg = self.config
        for attempt in range(1, cfg.max_attempts + 1):
            try:
                with anyio.fail_after(cfg.statement_timeout_s + cfg.connect_timeout_s):
                    return await self._attempt(body, write=write)
            except CloudperfError:
                raise
            except _DRIVER_ERRORS as exc:
                retry = is_transient(exc) or (
                    retry_duplicate_key and error_code(exc) == _DUPLICATE_KEY
                )
                if not retry:
                    raise translate(exc, what, cfg.redacted_url) from exc
                if attempt == cfg.max_attempts:
                    raise BackendUnavailableError(
                        f"{what} on {cfg.redacted_url} failed after {attempt} attempts: "
                        f"{type(exc).__name__} {exc}"
                    ) from exc
                delay = cfg.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                log.warning(
                    "%s: transient error (%s), retry %d in %.2fs", what, exc, attempt, delay
                )
                await anyio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attempt(self, body: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        pool = await self._get_pool()
        conn = await pool.acquire()
        ok = False
        try:
            async with conn.cursor() as cur:
                result = await body(cur)
            if write and self.before_commit is not None:
                await self.before_commit(conn.thread_id())
            await conn.commit()
            ok = True
            return result
        finally:
            if not ok:
                # Unknown state (error, timeout, cancellation): never hand it back to the pool.
                conn.close()
            pool.release(conn)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._pool_loop is asyncio.get_running_loop():
            pool.close()
            try:
                with anyio.fail_after(self.config.connect_timeout_s):
                    await pool.wait_closed()
            except (TimeoutError, *_DRIVER_ERRORS):
                pool.terminate()
        elif pool is not None:
            pool.terminate()

    async def connect_raw(self, *, database: bool = True) -> Any:
        """One autocommit connection outside the pool (migrations, admin), mapped errors."""
        try:
            with anyio.fail_after(self.config.connect_timeout_s + 1):
                conn = await asyncmy.connect(**self.config.connect_kwargs(database=database))
            await conn.autocommit(True)  # type: ignore[no-untyped-call]
            return conn
        except _DRIVER_ERRORS as exc:
            raise translate(exc, "connect", self.config.redacted_url) from exc


def driver_errors() -> tuple[type[BaseException], ...]:
    """Exception types that must be translated before leaving the adapter."""
    return _DRIVER_ERRORS
