"""Driver clients that belong to one event loop, made again for each new loop.

asyncmy pools, redis.asyncio pools and aiobotocore clients hold sockets and futures of the
loop that created them. A Lambda container keeps module globals between invocations, and
tests run several loops in one process, so an adapter object may be used from a loop other
than the one that opened its client. :class:`LoopBound` is the one mechanism every adapter
uses for that: ``await holder.get()`` returns the client of the running loop, making it on
first use there.

Each client is closed on its own loop: by :meth:`LoopBound.aclose`, or, when that loop ends
first, by the loop itself. The client is tied to a tiny async generator that the loop tracks,
and ``asyncio.run`` (like ``asyncio.Runner`` and ``anyio.run``) finalizes such generators
before it closes the loop, which closes the client while its loop still runs. A client whose
loop still runs in another thread is closed there; one whose loop was closed without that
step cannot be closed any more (nothing can be awaited on a closed loop) and is dropped.

>>> pools = LoopBound(make=open_pool, close=close_pool)   # doctest: +SKIP
>>> pool = await pools.get()                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

from cloudperf_core.errors import BackendConfigError

__all__ = ["LoopBound"]

T = TypeVar("T")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LoopBound(Generic[T]):
    """The value ``make()`` returns, kept per running event loop (one loop at a time)."""

    def __init__(
        self, make: Callable[[], Awaitable[T]], close: Callable[[T], Awaitable[None]]
    ) -> None:
        self._make = make
        self._close = close
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._value: T | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._lock: asyncio.Lock | None = None
        self.made = 0  # how many values were made (one per loop that used this holder)

    @staticmethod
    def _require_loop() -> asyncio.AbstractEventLoop:
        loop = _running_loop()
        if loop is None:
            raise BackendConfigError("this backend needs a running asyncio event loop")
        return loop

    def current(self) -> T | None:
        """The running loop's value if it was made already (never makes one)."""
        loop = self._require_loop()
        if self._loop is not None and self._loop() is loop:
            return self._value
        return None

    async def get(self) -> T:
        loop = self._require_loop()
        if self._loop is None or self._loop() is not loop:
            self._switch_to(loop)
        if self._value is not None:
            return self._value
        assert self._lock is not None
        async with self._lock:  # concurrent first uses in one loop make one value
            if self._value is None:
                value = await self._make()
                guard = self._guarded(value, loop)
                await guard.asend(None)  # now tracked by the loop, finalized before it closes
                self._value, self._guard = value, guard
                self.made += 1
        return self._value

    async def _guarded(
        self, value: T, loop: asyncio.AbstractEventLoop
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if self._value is value:
                self._value = self._guard = None
            if _running_loop() is loop:  # never touch the client from another loop
                await self._close(value)

    def _switch_to(self, loop: asyncio.AbstractEventLoop) -> None:
        old_loop = self._loop() if self._loop is not None else None
        guard, self._guard, self._value = self._guard, None, None
        self._loop = weakref.ref(loop)
        self._lock = asyncio.Lock()
        if guard is None:
            return
        if old_loop is not None and old_loop.is_running() and not old_loop.is_closed():
            # Alive in another thread: let it close its own client.
            asyncio.run_coroutine_threadsafe(_aclose(guard), old_loop)
            return
        # The loop is gone without finalizing the guard: end it here, which skips the close
        # (this is not its loop), so it is not finalized later on a closed loop.
        with contextlib.suppress(StopIteration):
            guard.aclose().send(None)

    async def aclose(self) -> None:
        """Close the running loop's value (if any); a value of another loop is dropped."""
        guard = self._guard if self.current() is not None else None
        self._value = self._guard = None
        self._loop = self._lock = None
        if guard is not None:
            await guard.aclose()


async def _aclose(guard: AsyncGenerator[None, None]) -> None:
    await guard.aclose()
