"""The real clock (the ``Clock`` port); tests use ``adapters.memory.FakeClock``."""

from __future__ import annotations

import time

import anyio


class SystemClock:
    """Wall-clock milliseconds since the epoch; ``sleep`` yields to the event loop."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
