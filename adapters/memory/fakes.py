"""In-memory fakes of every port, plus the clocks.

They hold state in plain dicts, so they are for tests, examples and one-shot runs only; each
behaves like the real adapters as far as the contract suites can tell (leases lapse on the
injected :class:`Clock`, reports are idempotent by id, messages dead-letter after
``max_receives`` deliveries). ``memory://`` URLs are opened by :mod:`adapters.memory.registry`.

>>> clock = FakeClock()
>>> cache = InMemoryCache(clock=clock)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import msgspec

from cloudperf_core.catalog import check_limit
from cloudperf_core.clock import SystemClock, ttl_to_ms
from cloudperf_core.errors import BackendConfigError, BackendError, InvalidSpecError
from cloudperf_core.models import (
    DataPresence,
    IngestOutcome,
    ReceivedMessage,
    ReportQueueDepth,
    ReportWindows,
    StatsQuery,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.ports import Clock
from cloudperf_core.reports import digests_conflict
from cloudperf_core.windows.aggregate import combine_all, window_key

__all__ = [
    "FakeClock",
    "InMemoryCache",
    "InMemoryMeasurementStore",
    "InMemoryReportQueue",
    "SystemClock",
]


class FakeClock:
    """A clock that moves only when told: :meth:`advance`, or :meth:`sleep` (which advances).

    ``sleep`` still yields to the event loop once, so other tasks get to run.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise InvalidSpecError("a clock does not go backwards")
        self._now_ms += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await anyio.lowlevel.checkpoint()


# --- measurement store ---------------------------------------------------------------------


def matches(query: StatsQuery, w: WindowAggregate) -> bool:
    """Whether a window row passes the query's filters (``None`` = no filter, ``()`` = none)."""
    return _Filter(query)(w)


class _Filter:
    """:func:`matches` for one query, its lists turned into sets once (not once per row)."""

    def __init__(self, query: StatsQuery) -> None:
        def as_set(values: Sequence[Any] | None) -> frozenset[Any] | None:
            return None if values is None else frozenset(values)

        self.sources = as_set(query.sources)
        self.targets = as_set(query.targets)
        self.dests = as_set(query.dest_location_ids)
        self.since_s, self.until_s = query.since_s, query.until_s

    def __call__(self, w: WindowAggregate) -> bool:
        if self.sources is not None and w.source not in self.sources:
            return False
        if self.targets is not None and w.target not in self.targets:
            return False
        if self.dests is not None and w.dest_location_id not in self.dests:
            return False
        if self.since_s is not None and w.window_start_s < self.since_s:
            return False
        return self.until_s is None or w.window_start_s < self.until_s


class InMemoryMeasurementStore:
    """Window rows in a dict keyed by (source, target, window_start_s, window_s)."""

    def __init__(self) -> None:
        self._rows: dict[WindowKey, WindowAggregate] = {}
        # source -> keys of its rows, so a query by source reads only those (rows never go).
        self._keys_of: dict[str, list[WindowKey]] = {}
        self._digests: dict[str, bytes] = {}  # every ingested report id -> its digest

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        await anyio.lowlevel.checkpoint()
        outcome = IngestOutcome()
        new_ids: dict[str, bytes] = {}
        pending: dict[WindowKey, list[WindowAggregate]] = {}
        for report in batch:
            rid = report.report_id
            known = self._digests.get(rid, new_ids.get(rid))
            if known is not None:
                conflict = digests_conflict(known, report.digest)
                (outcome.conflicts if conflict else outcome.duplicates).append(rid)
                continue
            new_ids[rid] = report.digest
            outcome.ingested.append(rid)
            for window in report.windows:
                pending.setdefault(window_key(window), []).append(window)
        staged = combine_all(pending, self._rows)
        # Everything above may raise; only now is the batch applied, so it is all or nothing.
        for key in staged.keys() - self._rows.keys():
            self._keys_of.setdefault(key[0], []).append(key)
        self._rows.update(staged)
        self._digests.update(new_ids)
        return outcome

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        await anyio.lowlevel.checkpoint()
        wanted = _Filter(query)
        every: Iterable[WindowAggregate] = self._rows.values()
        if wanted.sources is not None:
            rows_of, keys_of = self._rows, self._keys_of
            every = [rows_of[k] for s in wanted.sources for k in keys_of.get(s, ())]
        rows = [msgspec.structs.replace(w) for w in every if wanted(w)]
        rows.sort(key=window_key)
        return rows

    async def untagged_targets(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        await anyio.lowlevel.checkpoint()
        check_limit(limit)
        found = {
            w.target
            for w in self._rows.values()
            if w.dest_location_id is None and (after is None or w.target > after)
        }
        return sorted(found)[:limit]

    async def tag_targets(self, locations: Mapping[str, int]) -> int:
        await anyio.lowlevel.checkpoint()
        tagged = 0
        for key, w in self._rows.items():
            location_id = locations.get(w.target)
            if w.dest_location_id is None and location_id is not None:
                self._rows[key] = msgspec.structs.replace(w, dest_location_id=location_id)
                tagged += 1
        return tagged

    async def data_presence(self, since_s: int | None, until_s: int | None) -> DataPresence:
        await anyio.lowlevel.checkpoint()
        query = StatsQuery(since_s=since_s, until_s=until_s)
        wanted = _Filter(query)
        rows = [w for w in self._rows.values() if wanted(w)]
        return DataPresence(
            sources=sorted({w.source for w in rows}),
            dest_location_ids=sorted(
                {w.dest_location_id for w in rows if w.dest_location_id is not None}
            ),
            pairs=len({(w.source, w.target) for w in rows}),
        )

    async def close(self) -> None:
        pass


# --- report queue --------------------------------------------------------------------------


@dataclass
class _Message:
    body: bytes
    message_id: str
    visible_at_ms: int = 0
    receives: int = 0
    receipt: str | None = None


class InMemoryReportQueue:
    """An SQS-like queue: receive hides a message, release shows it again, and a message
    received ``max_receives`` times without an ack moves to the dead-letter list."""

    def __init__(self, clock: Clock | None = None, max_receives: int = 5) -> None:
        if max_receives < 1:
            raise BackendConfigError("max_receives must be at least 1")
        self._clock: Clock = clock or SystemClock()
        self.max_receives = max_receives
        self._messages: dict[str, _Message] = {}
        self._by_receipt: dict[str, str] = {}
        self._dead: list[_Message] = []

    async def send(self, bodies: Sequence[bytes]) -> None:
        await anyio.lowlevel.checkpoint()
        for body in bodies:
            message_id = uuid.uuid4().hex
            self._messages[message_id] = _Message(body=bytes(body), message_id=message_id)

    def _dead_letter(self, message: _Message) -> None:
        del self._messages[message.message_id]
        if message.receipt is not None:
            self._by_receipt.pop(message.receipt, None)
        message.receipt = None
        self._dead.append(message)

    def _sweep(self, now_ms: int) -> None:
        """Dead-letter visible messages that used up their receives (as SQS redrive does)."""
        spent = [
            m
            for m in self._messages.values()
            if m.visible_at_ms <= now_ms and m.receives >= self.max_receives
        ]
        for message in spent:
            self._dead_letter(message)

    async def receive(self, max_messages: int, visibility_s: float) -> list[ReceivedMessage]:
        await anyio.lowlevel.checkpoint()
        now_ms = self._clock.now_ms()
        self._sweep(now_ms)
        visibility_ms = ttl_to_ms(visibility_s)
        out: list[ReceivedMessage] = []
        for message in self._messages.values():
            if len(out) >= max_messages:
                break
            if message.visible_at_ms > now_ms:
                continue
            if message.receipt is not None:
                self._by_receipt.pop(message.receipt, None)
            message.receipt = uuid.uuid4().hex
            message.receives += 1
            message.visible_at_ms = now_ms + visibility_ms
            self._by_receipt[message.receipt] = message.message_id
            out.append(
                ReceivedMessage(
                    body=message.body,
                    receipt=message.receipt,
                    message_id=message.message_id,
                    deliveries=message.receives,
                )
            )
        return out

    async def ack(self, receipts: Sequence[str]) -> None:
        # Acknowledging twice (or after the message moved on) is harmless, as with SQS.
        await anyio.lowlevel.checkpoint()
        for receipt in receipts:
            message_id = self._by_receipt.pop(receipt, None)
            if message_id is not None:
                self._messages.pop(message_id, None)

    async def release(self, receipts: Sequence[str]) -> None:
        await anyio.lowlevel.checkpoint()
        for receipt in receipts:
            message_id = self._by_receipt.pop(receipt, None)
            if message_id is None:
                continue
            message = self._messages[message_id]
            message.receipt = None
            message.visible_at_ms = 0
            if message.receives >= self.max_receives:
                self._dead_letter(message)

    async def depth(self) -> ReportQueueDepth:
        await anyio.lowlevel.checkpoint()
        now_ms = self._clock.now_ms()
        self._sweep(now_ms)
        hidden = sum(1 for m in self._messages.values() if m.visible_at_ms > now_ms)
        return ReportQueueDepth(
            waiting=len(self._messages) - hidden, in_flight=hidden, dead_letters=len(self._dead)
        )

    async def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Dead-lettered messages, oldest first; they stay there (this only looks)."""
        await anyio.lowlevel.checkpoint()
        self._sweep(self._clock.now_ms())
        return [
            ReceivedMessage(
                body=m.body,
                receipt=f"dead-{m.message_id}",
                message_id=m.message_id,
                deliveries=m.receives,
            )
            for m in self._dead[:max_messages]
        ]

    async def close(self) -> None:
        pass


# --- cache ---------------------------------------------------------------------------------


class InMemoryCache:
    """A dict with expiry times on ``clock``; counters are stored as ASCII digits (as Redis)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._data: dict[str, tuple[bytes, int | None]] = {}

    def _live(self, key: str) -> tuple[bytes, int | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock.now_ms():
            del self._data[key]
            return None
        return item

    def _expiry(self, ttl_s: float | None) -> int | None:
        return None if ttl_s is None else self._clock.now_ms() + ttl_to_ms(ttl_s)

    async def get(self, key: str) -> bytes | None:
        await anyio.lowlevel.checkpoint()
        item = self._live(key)
        return None if item is None else item[0]

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        await anyio.lowlevel.checkpoint()
        self._data[key] = (bytes(value), self._expiry(ttl_s))

    async def delete(self, *keys: str) -> None:
        await anyio.lowlevel.checkpoint()
        for key in keys:
            self._data.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        await anyio.lowlevel.checkpoint()
        item = self._live(key)
        if item is None:
            value, expires_at_ms = amount, self._expiry(ttl_s)
        else:
            try:
                value = int(item[0]) + amount
            except ValueError as exc:
                raise BackendError(f"cache key {key!r} does not hold a counter") from exc
            expires_at_ms = item[1]
        self._data[key] = (str(value).encode("ascii"), expires_at_ms)
        return value

    async def close(self) -> None:
        pass


if TYPE_CHECKING:  # mypy proves each fake satisfies its port; nothing runs here
    from adapters.memory.jobs import InMemoryJobQueue
    from cloudperf_core.ports import Cache, JobQueue, MeasurementStore, ReportQueue

    _store: MeasurementStore = InMemoryMeasurementStore()
    _jobs: JobQueue = InMemoryJobQueue()
    _reports: ReportQueue = InMemoryReportQueue()
    _cache: Cache = InMemoryCache()
    _clocks: tuple[Clock, Clock] = (SystemClock(), FakeClock())
