"""In-memory fakes of the session, liveness, rate-counter and rotation-cursor ports.

They are the reference the Redis adapters (``adapters.elasticache``) are held to by the
contract suites; time comes from an injected :class:`Clock` so tests need not sleep.

>>> sessions = InMemorySessionStore(clock=FakeClock())            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from cloudperf_core.clock import MINUTE_MS, SystemClock, minute_start_ms, ttl_to_ms
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import Session
from cloudperf_core.ports import Clock

__all__ = [
    "InMemoryLivenessTracker",
    "InMemoryRateCounters",
    "InMemoryRotationCursors",
    "InMemorySessionStore",
]


class InMemorySessionStore:
    """Sessions in a dict keyed by token hash, expiring on ``clock``."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._sessions: dict[str, Session] = {}

    async def create(self, token_hash: str, user: str, role: str, ttl_s: float) -> Session:
        await anyio.lowlevel.checkpoint()
        ttl_ms = ttl_to_ms(ttl_s)
        session = Session.starting(token_hash, user, role, self._clock.now_ms(), ttl_ms)
        self._sessions[token_hash] = session
        return session

    async def get(self, token_hash: str) -> Session | None:
        await anyio.lowlevel.checkpoint()
        session = self._sessions.get(token_hash)
        if session is not None and session.expires_at_ms <= self._clock.now_ms():
            del self._sessions[token_hash]
            return None
        return session

    async def revoke(self, token_hash: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._sessions.pop(token_hash, None)

    async def close(self) -> None:
        pass


class InMemoryLivenessTracker:
    """Last-seen milliseconds per probe id."""

    def __init__(self) -> None:
        self._last_seen_ms: dict[str, int] = {}

    async def seen(self, probe_id: str, at_ms: int) -> None:
        await anyio.lowlevel.checkpoint()
        self._last_seen_ms[probe_id] = max(at_ms, self._last_seen_ms.get(probe_id, at_ms))

    async def last_seen(self, probe_ids: Sequence[str]) -> dict[str, int]:
        await anyio.lowlevel.checkpoint()
        return {p: self._last_seen_ms[p] for p in probe_ids if p in self._last_seen_ms}

    async def alive_since(self, since_ms: int) -> list[str]:
        await anyio.lowlevel.checkpoint()
        return sorted(p for p, at_ms in self._last_seen_ms.items() if at_ms >= since_ms)

    async def forget(self, before_ms: int) -> int:
        await anyio.lowlevel.checkpoint()
        stale = [p for p, at_ms in self._last_seen_ms.items() if at_ms < before_ms]
        for probe_id in stale:
            del self._last_seen_ms[probe_id]
        return len(stale)

    async def close(self) -> None:
        pass


class InMemoryRateCounters:
    """Per-minute buckets per name, pruned as the Redis adapter prunes them.

    When a hit opens a new minute, minutes starting more than ``horizon_s`` before it are
    dropped; a name nobody hit for ``horizon_s`` (on ``clock``) disappears as a whole.
    """

    def __init__(self, horizon_s: float = 7200.0, clock: Clock | None = None) -> None:
        self.horizon_ms = ttl_to_ms(horizon_s)
        if self.horizon_ms < MINUTE_MS:
            raise InvalidSpecError("the rate-counter horizon must be at least one minute")
        self._clock: Clock = clock or SystemClock()
        self._buckets: dict[str, dict[int, int]] = {}
        self._expires_at_ms: dict[str, int] = {}

    def _live(self, name: str) -> dict[int, int]:
        if self._expires_at_ms.get(name, 0) <= self._clock.now_ms():
            self._buckets.pop(name, None)
        return self._buckets.setdefault(name, {})

    async def hit(self, name: str, at_ms: int, amount: int = 1) -> int:
        await anyio.lowlevel.checkpoint()
        buckets = self._live(name)
        minute_ms = minute_start_ms(at_ms)
        if minute_ms not in buckets:
            oldest_ms = minute_ms - self.horizon_ms
            for old in [m for m in buckets if m < oldest_ms]:
                del buckets[old]
        buckets[minute_ms] = buckets.get(minute_ms, 0) + amount
        self._expires_at_ms[name] = self._clock.now_ms() + self.horizon_ms
        return buckets[minute_ms]

    async def per_minute(self, name: str, since_ms: int, until_ms: int) -> list[tuple[int, int]]:
        await anyio.lowlevel.checkpoint()
        buckets = self._live(name)
        return sorted((m, c) for m, c in buckets.items() if since_ms <= m < until_ms and c)

    async def close(self) -> None:
        pass


class InMemoryRotationCursors:
    """A counter per source; ``next`` returns the old value modulo ``modulo``."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    async def next(self, source: str, modulo: int) -> int:
        if modulo < 1:
            raise InvalidSpecError(f"modulo must be at least 1, not {modulo}")
        await anyio.lowlevel.checkpoint()
        count = self._counts.get(source, 0)
        self._counts[source] = count + 1
        return count % modulo

    async def get(self, source: str) -> int:
        await anyio.lowlevel.checkpoint()
        return self._counts.get(source, 0)

    async def reset(self, source: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._counts.pop(source, None)

    async def close(self) -> None:
        pass


if TYPE_CHECKING:  # mypy proves each fake satisfies its port; nothing runs here
    from cloudperf_core.ports import LivenessTracker, RateCounters, RotationCursors, SessionStore

    _fakes: tuple[SessionStore, LivenessTracker, RateCounters, RotationCursors] = (
        InMemorySessionStore(),
        InMemoryLivenessTracker(),
        InMemoryRateCounters(),
        InMemoryRotationCursors(),
    )
