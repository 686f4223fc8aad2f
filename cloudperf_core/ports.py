"""The ports the core talks through. Adapters implement them without inheriting.

Each port is a small ``typing.Protocol`` with async methods over core types only; mypy checks
an adapter against its port where the two are wired (``backends.py``, tests, Lambda entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from cloudperf_core.models import (
    AnyJob,
    IngestOutcome,
    LeasedJob,
    ProcessResult,
    ReceivedMessage,
    ReportWindows,
    Session,
    StatsQuery,
    WindowAggregate,
)


class MeasurementStore(Protocol):
    """Aggregated measurements, written idempotently by report id."""

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Write the windows of every report whose id was not ingested before.

        All-or-nothing for the batch: either every new report's windows are merged into their
        (source, target, window) rows and its id recorded, or nothing is. Report ids already
        ingested (earlier, or earlier in this same batch) are skipped and listed as duplicates.
        Merging adds counts and merges sketches; it never averages percentiles.
        """
        ...

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Window rows matching the query's sources, targets and [since_s, until_s)."""
        ...

    async def close(self) -> None: ...


class JobQueue(Protocol):
    """Jobs with leases: a leased job not acknowledged before its lease ends comes back."""

    async def issue(self, jobs: Sequence[AnyJob]) -> None: ...

    async def lease(self, max_jobs: int, lease_s: float) -> list[LeasedJob]:
        """Take up to ``max_jobs`` visible jobs, hiding each for ``lease_s`` seconds."""
        ...

    async def extend(self, lease_id: str, lease_s: float) -> None:
        """Keep a lease for ``lease_s`` more seconds from now (NotFoundError if it lapsed)."""
        ...

    async def ack(self, lease_id: str) -> None:
        """The job is done: remove it for good."""
        ...

    async def close(self) -> None: ...


class ReportQueue(Protocol):
    """Encoded reports on their way to ingest; failed messages come back, then dead-letter."""

    async def send(self, bodies: Sequence[bytes]) -> None:
        """Enqueue every body, in as few calls as the backend's limits allow."""
        ...

    async def receive(self, max_messages: int, visibility_s: float) -> list[ReceivedMessage]:
        """Take up to ``max_messages`` messages, each hidden for ``visibility_s`` seconds."""
        ...

    async def ack(self, receipts: Sequence[str]) -> None:
        """Delete processed messages."""
        ...

    async def release(self, receipts: Sequence[str]) -> None:
        """Processing failed: make the messages visible again now (they count a delivery)."""
        ...

    async def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Messages that failed too often (moved to the dead-letter queue)."""
        ...

    async def close(self) -> None: ...


class Cache(Protocol):
    """Key/value cache with TTLs and counters."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add to a counter (created at 0) and return the new value; TTL set on creation."""
        ...

    async def close(self) -> None: ...


class Clock(Protocol):
    """Wall-clock time, injectable so the core is testable without time."""

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class ProcessExecutor(Protocol):
    """Runs one program from an argv list (never a shell string) under a deadline."""

    async def run(self, argv: Sequence[str], *, deadline_s: float) -> ProcessResult:
        """Run to completion; on deadline, kill it and raise RunnerTimeoutError."""
        ...


@runtime_checkable
class Migratable(Protocol):
    """A backend with a versioned schema (``cloudperf db migrate``)."""

    async def migrate(self) -> list[int]:
        """Apply pending migrations idempotently; return the versions applied now."""
        ...

    async def schema_version(self) -> int: ...


class SessionStore(Protocol):
    """Login sessions keyed by a hash of the token (callers hash; the token is never stored)."""

    async def create(self, token_hash: str, user: str, role: str, ttl_s: float) -> Session:
        """Store (or replace) the session; it disappears ``ttl_s`` seconds from now."""
        ...

    async def get(self, token_hash: str) -> Session | None:
        """The live session, or ``None`` if unknown, revoked or expired."""
        ...

    async def revoke(self, token_hash: str) -> None:
        """End the session now (no error if it does not exist)."""
        ...

    async def close(self) -> None: ...


class LivenessTracker(Protocol):
    """When each probe was last seen (milliseconds since the epoch)."""

    async def seen(self, probe_id: str, at_ms: int) -> None:
        """Record a sign of life; an older ``at_ms`` never moves the last-seen time back."""
        ...

    async def last_seen(self, probe_ids: Sequence[str]) -> dict[str, int]:
        """Last-seen times of the given probes; probes never seen are absent."""
        ...

    async def alive_since(self, since_ms: int) -> list[str]:
        """Ids (sorted) of the probes seen at or after ``since_ms``."""
        ...

    async def forget(self, before_ms: int) -> int:
        """Drop probes last seen before ``before_ms``; return how many were dropped."""
        ...

    async def close(self) -> None: ...


class RateCounters(Protocol):
    """Rolling per-minute counters; buckets older than the backend's horizon are dropped."""

    async def hit(self, name: str, at_ms: int, amount: int = 1) -> int:
        """Add ``amount`` to the minute containing ``at_ms``; return that minute's new count."""
        ...

    async def per_minute(self, name: str, since_ms: int, until_ms: int) -> list[tuple[int, int]]:
        """``(minute_start_ms, count)`` of non-empty minutes starting in [since, until), sorted."""
        ...

    async def close(self) -> None: ...


class RotationCursors(Protocol):
    """Per-source round-robin positions (e.g. which destination a source measures next)."""

    async def next(self, source: str, modulo: int) -> int:
        """The source's cursor modulo ``modulo``, advanced by one atomically (0 first)."""
        ...

    async def get(self, source: str) -> int:
        """How many times ``next`` ran for the source since it was created or reset."""
        ...

    async def reset(self, source: str) -> None: ...

    async def close(self) -> None: ...
