"""The in-memory job queue: per-source ready queues and leases on an injected clock."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.lowlevel

from cloudperf_core.clock import SystemClock, ttl_to_ms
from cloudperf_core.errors import InvalidSpecError, NotFoundError
from cloudperf_core.models import AnyJob, LeasedJob
from cloudperf_core.ports import Clock

__all__ = ["DEFAULT_MAX_DELIVERIES", "InMemoryJobQueue"]

log = logging.getLogger(__name__)
DEFAULT_MAX_DELIVERIES = 5


@dataclass
class _Lease:
    job_id: str
    source: str
    expires_ms: int


@dataclass
class _Source:
    ready: OrderedDict[str, None] = field(default_factory=OrderedDict)  # job ids, oldest first
    leased: set[str] = field(default_factory=set)  # lease ids


class InMemoryJobQueue:
    """Jobs per source in issue order; a lease hides a job until ``lease_s`` has passed."""

    def __init__(
        self, clock: Clock | None = None, *, max_deliveries: int = DEFAULT_MAX_DELIVERIES
    ) -> None:
        if max_deliveries < 1:
            raise InvalidSpecError(f"max_deliveries must be >= 1, not {max_deliveries}")
        self._clock: Clock = clock or SystemClock()
        self._max_deliveries = max_deliveries
        self._jobs: dict[str, AnyJob] = {}
        self._deliveries: dict[str, int] = {}
        self._sources: dict[str, _Source] = {}
        self._leases: dict[str, _Lease] = {}

    def _source(self, name: str) -> _Source:
        return self._sources.setdefault(name, _Source())

    async def issue(self, jobs: Sequence[AnyJob]) -> int:
        await anyio.lowlevel.checkpoint()
        queued = 0
        for job in jobs:
            if job.job_id in self._jobs:
                continue
            self._jobs[job.job_id] = job
            self._deliveries[job.job_id] = 0
            self._source(job.source).ready[job.job_id] = None
            queued += 1
        return queued

    def _return_lapsed(self, source: _Source, now_ms: int) -> int:
        returned = 0
        for lease_id in sorted(source.leased):
            lease = self._leases[lease_id]
            if lease.expires_ms > now_ms:
                continue
            source.leased.discard(lease_id)
            del self._leases[lease_id]
            if self._deliveries[lease.job_id] >= self._max_deliveries:
                log.warning(
                    "dropping job %s after %d deliveries", lease.job_id, self._max_deliveries
                )
                del self._jobs[lease.job_id], self._deliveries[lease.job_id]
                continue
            # Back to the front: it has waited longest.
            source.ready[lease.job_id] = None
            source.ready.move_to_end(lease.job_id, last=False)
            returned += 1
        return returned

    async def lease(self, source: str, max_jobs: int, lease_s: float) -> list[LeasedJob]:
        await anyio.lowlevel.checkpoint()
        now_ms = self._clock.now_ms()
        expires_ms = now_ms + ttl_to_ms(lease_s)
        queue = self._source(source)
        self._return_lapsed(queue, now_ms)
        out: list[LeasedJob] = []
        while queue.ready and len(out) < max_jobs:
            job_id, _ = queue.ready.popitem(last=False)
            lease_id = uuid.uuid4().hex
            self._leases[lease_id] = _Lease(job_id=job_id, source=source, expires_ms=expires_ms)
            queue.leased.add(lease_id)
            self._deliveries[job_id] += 1
            out.append(
                LeasedJob(
                    job=self._jobs[job_id],
                    lease_id=lease_id,
                    lease_expires_at_ms=expires_ms,
                    deliveries=self._deliveries[job_id],
                )
            )
        return out

    def _held(self, lease_id: str) -> _Lease:
        lease = self._leases.get(lease_id)
        if lease is None or lease.expires_ms <= self._clock.now_ms():
            raise NotFoundError(f"lease {lease_id!r} is unknown or has lapsed")
        return lease

    async def extend(self, lease_id: str, lease_s: float) -> None:
        await anyio.lowlevel.checkpoint()
        self._held(lease_id).expires_ms = self._clock.now_ms() + ttl_to_ms(lease_s)

    async def ack(self, lease_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        lease = self._held(lease_id)
        del self._leases[lease_id]
        self._source(lease.source).leased.discard(lease_id)
        del self._jobs[lease.job_id], self._deliveries[lease.job_id]

    async def depth(self, source: str) -> int:
        await anyio.lowlevel.checkpoint()
        queue = self._sources.get(source)
        return 0 if queue is None else len(queue.ready) + len(queue.leased)

    async def reap(self) -> int:
        await anyio.lowlevel.checkpoint()
        now_ms = self._clock.now_ms()
        return sum(self._return_lapsed(q, now_ms) for q in self._sources.values())

    def __len__(self) -> int:
        """Jobs not yet acknowledged (ready or leased), over every source."""
        return len(self._jobs)

    async def close(self) -> None:
        pass
