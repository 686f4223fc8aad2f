"""Driver clients that belong to one event loop, made again for each new loop.

asyncmy pools, redis.asyncio pools and aiobotocore clients hold sockets and futures of the
loop that created them. A Lambda container keeps module globals between invocations, and
tests run several loops in one process, so an adapter object may be used from a loop other
than the one that opened its client. :class:`LoopBound` is the one mechanism every adapter
uses for that: ``await holder.get()`` returns the client of the running loop, making it on
first use there. When the loop changes, the previous loop's client is dropped: if that loop
still runs (another thread), it is closed on that loop; if the loop is gone, nothing can be
awaited on it any more, and its sockets close as they are collected.

>>> pools = LoopBound(make=open_pool, close=close_pool)   # doctest: +SKIP
>>> pool = await pools.get()                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Generic, TypeVar

from cloudperf_core.errors import BackendConfigError

__all__ = ["LoopBound"]

T = TypeVar("T")


class LoopBound(Generic[T]):
    """The value ``make()`` returns, kept per running event loop (one loop at a time)."""

    def __init__(
        self,
        make: Callable[[], Awaitable[T]],
        close: Callable[[T], Coroutine[object, object, None]],
    ) -> None:
        self._make = make
        self._close = close
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._value: T | None = None
        self._lock: asyncio.Lock | None = None
        self.made = 0  # how many values were made (one per loop that used this holder)

    @staticmethod
    def _running_loop() -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError as exc:
            raise BackendConfigError("this backend needs a running asyncio event loop") from exc

    def current(self) -> T | None:
        """The running loop's value if it was made already (never makes one)."""
        loop = self._running_loop()
        if self._loop is not None and self._loop() is loop:
            return self._value
        return None

    async def get(self) -> T:
        loop = self._running_loop()
        if self._loop is None or self._loop() is not loop:
            self._switch_to(loop)
        if self._value is not None:
            return self._value
        assert self._lock is not None
        async with self._lock:  # concurrent first uses in one loop make one value
            if self._value is None:
                self._value = await self._make()
                self.made += 1
        return self._value

    def _switch_to(self, loop: asyncio.AbstractEventLoop) -> None:
        old_loop = self._loop() if self._loop is not None else None
        old_value, self._value = self._value, None
        self._loop = weakref.ref(loop)
        self._lock = asyncio.Lock()
        if old_value is not None and old_loop is not None and old_loop.is_running():
            # Still alive in another thread: let it close its own client.
            asyncio.run_coroutine_threadsafe(self._close(old_value), old_loop)

    async def aclose(self) -> None:
        """Close the running loop's value (if any); a value of another loop is dropped."""
        value = self.current()
        self._value = None
        self._loop = None
        self._lock = None
        if value is not None:
            await self._close(value)
