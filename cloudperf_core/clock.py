"""The real clock (the ``Clock`` port); tests use ``adapters.memory.FakeClock``."""

from __future__ import annotations

import time

import anyio

from cloudperf_core.errors import InvalidSpecError


class SystemClock:
    """Wall-clock milliseconds since the epoch; ``sleep`` yields to the event loop."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


MINUTE_MS = 60_000


def ttl_to_ms(ttl_s: float) -> int:
    """A TTL in seconds as whole milliseconds; a negative TTL is a caller's mistake."""
    if ttl_s < 0:
        raise InvalidSpecError(f"a TTL cannot be negative: {ttl_s}")
    return round(ttl_s * 1000)


def minute_start_ms(at_ms: int) -> int:
    """The start of the minute ``at_ms`` falls in (per-minute counters)."""
    return at_ms - at_ms % MINUTE_MS
