"""Connection handling for the Aurora MySQL adapter: pool, transactions, retries, errors.

Everything that touches asyncmy's exceptions lives here, so driver errors are translated at
one boundary: transient ones (lost connection, killed connection, deadlock, lock wait
timeout, timeouts) become :class:`BackendUnavailableError`, retried under the URL's
:class:`~adapters._retry.RetryPolicy`; everything else becomes :class:`BackendError`.

Time to an error is bounded: a new connection (TCP, TLS, handshake, login) gets
``connect_timeout_s``, a transaction attempt ``connect_timeout_s + statement_timeout_s``, the
whole operation at most ``max_attempts`` attempts with backoff and never more than
``deadline_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import asyncmy
from asyncmy.cursors import Cursor

from adapters._errors import cert_rejected
from adapters._loop import LoopBound
from adapters._retry import retrying
from adapters.aurora.config import AuroraConfig, Dialect, dialect_of
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
)

__all__ = [
    "AuroraConfig",
    "Database",
    "Tx",
    "dialect",
    "driver_errors",
    "error_code",
    "is_transient",
    "placeholders",
    "rows_placeholders",
    "translate",
]

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
        raise InvalidSpecError("an IN list needs at least one placeholder")
    return ", ".join(["%s"] * n)


def rows_placeholders(n_rows: int, n_cols: int) -> str:
    """``(%s, %s), (%s, %s), ...``: ``n_rows`` row constructors of ``n_cols`` placeholders."""
    row = "(" + placeholders(n_cols) + ")"
    return ", ".join([row] * n_rows)


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient(exc: BaseException) -> bool:
    if cert_rejected(exc):
        return False
    if isinstance(exc, TimeoutError | ConnectionError | asyncio.IncompleteReadError):
        return True
    if isinstance(exc, asyncmy.errors.InterfaceError):
        return True
    return error_code(exc) in _TRANSIENT_CODES


def translate(exc: BaseException, what: str, safe_url: str) -> CloudperfError:
    """The CloudperfError for a driver exception (the password never appears)."""
    code = error_code(exc)
    detail = f"{what} on {safe_url} failed: {type(exc).__name__} {exc}"
    if cert_rejected(exc):
        return BackendConfigError(f"{detail}; the server's TLS certificate was not accepted")
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
    """A lazily created asyncmy pool per event loop, plus the transaction runner every query
    goes through.

    The pool is kept across Lambda invocations that share a loop and made again for a new
    loop (:class:`~adapters._loop.LoopBound`). The server's kind is read from the first
    connection and decides the upsert syntax (:attr:`dialect`).
    """

    def __init__(self, config: AuroraConfig) -> None:
        self.config = config
        self._pools: LoopBound[Any] = LoopBound(self._open_pool, self._close_pool)

    async def _open_pool(self) -> Any:
        o = self.config.options
        kwargs = self.config.connect_kwargs()
        # pool_min connections are opened now, one after another.
        with anyio.fail_after(o.connect_timeout_s * max(1, o.pool_min)):
            return await asyncmy.create_pool(
                minsize=o.pool_min, maxsize=o.pool_size, pool_recycle=o.pool_recycle_s, **kwargs
            )

    async def _close_pool(self, pool: Any) -> None:
        pool.close()
        try:
            with anyio.fail_after(self.config.options.connect_timeout_s):
                await pool.wait_closed()
        except (TimeoutError, *_DRIVER_ERRORS):
            pool.terminate()

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
        writer, which the next attempt sees and handles. ``write=False`` marks a body that
        only reads: its transaction ends with a rollback instead of a commit.
        """
        safe = self.config.redacted_url

        async def attempt() -> T:
            try:
                return await self._attempt(body, write=write)
            except CloudperfError:
                raise
            except (OverflowError, ValueError, TypeError) as exc:
                # The driver refusing a value (a number out of range, a string it cannot
                # encode): the same statement fails again, so no retry.
                raise BackendError(f"{what} on {safe} failed: {exc}") from exc
            except _DRIVER_ERRORS as exc:
                if retry_duplicate_key and error_code(exc) == _DUPLICATE_KEY:
                    raise BackendUnavailableError(
                        f"{what} on {safe}: lost a race with a concurrent writer"
                    ) from exc
                raise translate(exc, what, safe) from exc

        return await retrying(f"{what} on {safe}", attempt, self.config.retry_policy)

    async def _acquire(self) -> tuple[Any, Any]:
        pool = await self._pools.get()
        o = self.config.options
        if pool.freesize == 0 and pool.size < pool.maxsize:
            # This acquire opens a connection: the connect timeout bounds the whole of it
            # (asyncmy's own applies to the TCP connect only, the handshake reads wait for
            # the statement timeout).
            bound_s, doing = o.connect_timeout_s, "connect"
        else:
            bound_s, doing = o.statement_timeout_s, "wait for a pooled connection"
        try:
            with anyio.fail_after(bound_s):
                conn = await pool.acquire()
        except TimeoutError as exc:
            raise BackendUnavailableError(
                f"{doing} to {self.config.redacted_url}: no answer within {bound_s:g} s"
            ) from exc
        return pool, conn

    async def _attempt(self, body: Callable[[Tx], Awaitable[T]], *, write: bool) -> T:
        pool, conn = await self._acquire()
        ok = False
        try:
            async with conn.cursor() as cur:
                result = await body(cur)
            await (conn.commit() if write else conn.rollback())
            ok = True
            return result
        finally:
            if not ok:
                # Unknown state (error, timeout, cancellation): never hand it back to the pool.
                conn.close()
            pool.release(conn)

    async def close(self) -> None:
        await self._pools.aclose()

    async def connect_raw(self, *, database: bool = True) -> Any:
        """One autocommit connection outside the pool (migrations, admin), mapped errors."""
        bound_s = self.config.options.connect_timeout_s
        try:
            with anyio.fail_after(bound_s):
                conn = await asyncmy.connect(**self.config.connect_kwargs(database=database))
                await conn.autocommit(True)  # type: ignore[no-untyped-call]
        except TimeoutError as exc:
            raise BackendUnavailableError(
                f"connect to {self.config.redacted_url}: no answer within {bound_s:g} s"
            ) from exc
        except _DRIVER_ERRORS as exc:
            raise translate(exc, "connect", self.config.redacted_url) from exc
        return conn


def dialect(cur: Tx) -> Dialect:
    """The upsert syntax the server behind this transaction wants (from its version)."""
    return dialect_of(cur.connection.get_server_info())


def driver_errors() -> tuple[type[BaseException], ...]:
    """Exception types that must be translated before leaving the adapter."""
    return _DRIVER_ERRORS
