"""The ports the core talks through. Adapters implement them without inheriting.

Each port is a small ``typing.Protocol`` with async methods over core types only. Every
adapter module (and the in-memory fakes) ends with an ``if TYPE_CHECKING:`` block that assigns
its classes to the ports they implement, which is where mypy (run strict on ``cloudperf_core``
and ``adapters``) checks them; the backend registry itself hands out untyped objects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, runtime_checkable

from cloudperf_core.catalog import (
    AddressRange,
    CatalogStatus,
    DiscoverySweep,
    Group,
    Location,
    LocationFilter,
    Probe,
    ReachableAddress,
    RetentionPolicy,
    RetentionResult,
    Settings,
    User,
)
from cloudperf_core.models import (
    AnyJob,
    DataPresence,
    IngestOutcome,
    LeasedJob,
    ProcessResult,
    ReceivedMessage,
    ReportQueueDepth,
    ReportWindows,
    Session,
    StatsQuery,
    WindowAggregate,
)
from cloudperf_core.places import PlaceKind, PlaceSummary
from cloudperf_core.protocol import (
    Heartbeat,
    PollResponse,
    RejectedReport,
    ReportSubmission,
    SpooledReport,
    SubmitResponse,
)


class MeasurementStore(Protocol):
    """Aggregated measurements, written idempotently by report id."""

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Write the windows of every report whose id was not ingested before.

        All-or-nothing for the batch: either every new report's windows are merged into their
        (source, target, window) rows and its id recorded with its digest, or nothing is.
        Report ids already ingested (earlier, or earlier in this same batch) are skipped:
        listed as ``duplicates`` when the digests match (or either is unknown, ``b""``), as
        ``conflicts`` when they differ. Merging adds counts and merges sketches; it never
        averages percentiles. A row whose counts or sums would pass what the store holds
        raises StoreLimitError (nothing written); driver errors leave as CloudperfError.
        """
        ...

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Window rows matching the query's sources, targets, destination location ids and
        [since_s, until_s), ordered by (source, target, window_start_s, window_s)."""
        ...

    async def untagged_targets(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """Targets (sorted, each once, greater than ``after``) with windows lacking a
        destination location: what a retag after a catalogue import looks up."""
        ...

    async def tag_targets(self, locations: Mapping[str, int]) -> int:
        """Set ``dest_location_id`` on the untagged windows of each target; returns rows set."""
        ...

    async def data_presence(self, since_s: int | None, until_s: int | None) -> DataPresence:
        """Which sources and destination locations have windows starting in [since, until)."""
        ...

    async def close(self) -> None: ...


class JobQueue(Protocol):
    """Jobs routed per source location and leased: a job not acknowledged before its lease
    ends goes back to its source's queue (never silently away).

    A job is queued under ``job.source`` (the name of the location whose probes run it).
    Leasing is atomic: two probes of one location never hold the same job at once.
    """

    async def issue(self, jobs: Sequence[AnyJob]) -> int:
        """Queue each job under its source; a ``job_id`` already queued or leased is skipped.

        Returns how many jobs were queued by this call.
        """
        ...

    async def lease(self, source: str, max_jobs: int, lease_s: float) -> list[LeasedJob]:
        """Take up to ``max_jobs`` ready jobs of ``source`` (oldest first), each hidden for
        ``lease_s`` seconds. Lapsed leases of the source are returned to it first."""
        ...

    async def extend(self, lease_id: str, lease_s: float) -> None:
        """Keep a lease for ``lease_s`` more seconds from now (NotFoundError if it lapsed)."""
        ...

    async def ack(self, lease_id: str) -> None:
        """The job is done: remove it for good (NotFoundError if the lease lapsed)."""
        ...

    async def depth(self, source: str) -> int:
        """Jobs of ``source`` not yet acknowledged (ready or leased)."""
        ...

    async def reap(self) -> int:
        """Return every lapsed lease's job to its source's queue; returns how many.

        A job whose deliveries reached the queue's maximum is dropped instead (logged): the
        scheduler plans it again, and a job that kills every probe must not circulate forever.
        """
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

    async def depth(self) -> ReportQueueDepth:
        """How many messages wait, are in flight and are dead-lettered (for status pages)."""
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

    async def run(
        self, argv: Sequence[str], *, deadline_s: float, max_output_bytes: int
    ) -> ProcessResult:
        """Run to completion; on deadline, kill it and raise RunnerTimeoutError; once stdout
        and stderr together pass ``max_output_bytes``, kill it and raise FpingError."""
        ...


@runtime_checkable
class Migratable(Protocol):
    """A backend with a versioned schema (``cloudperf db migrate``)."""

    async def migrate(self) -> list[int]:
        """Apply pending migrations idempotently; return the versions applied now."""
        ...

    async def schema_version(self) -> int: ...


@runtime_checkable
class Retaining(Protocol):
    """A store that rolls old windows up into coarser ones and expires the coarsest
    (``AuroraMeasurementStore``); the scheduler tick runs it now and then."""

    async def apply_retention(
        self, now_s: int, policy: RetentionPolicy | None = None
    ) -> RetentionResult: ...


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


class Places(Protocol):
    """Locations, address ranges and groups: where addresses are.

    List methods return at most ``limit`` (1..10000) items in a fixed order and continue
    after the key given as ``after`` (keyset pagination: the last item's name, start
    address, ...). Unknown names raise NotFoundError; invalid values InvalidSpecError.
    """

    async def put_locations(self, locations: Sequence[Location]) -> dict[str, int]:
        """Insert or update locations by name; returns name -> location_id."""
        ...

    async def get_location(self, name: str) -> Location | None: ...

    async def locations_by_id(self, location_ids: Collection[int]) -> dict[int, Location]:
        """The locations with these ids (unknown ids are absent)."""
        ...

    async def list_locations(self, *, after: str | None = None, limit: int = 100) -> list[Location]:
        """Locations ordered by name."""
        ...

    async def find_locations(self, where: LocationFilter) -> list[Location]:
        """Every location matching the filter, ordered by name (no limit: a query's scope)."""
        ...

    async def search(
        self, text: str, *, after: str | None = None, limit: int = 20
    ) -> list[Location]:
        """Locations (by name) whose name, ``AS<n>``, ASN name, country code or name, or city
        contain every word of ``text``, case-insensitively; a blank text finds nothing."""
        ...

    async def list_places(
        self, kind: PlaceKind, *, after: str | None = None, limit: int = 100
    ) -> list[PlaceSummary]:
        """Countries, cities or ASNs of the locations, in :mod:`cloudperf_core.places` order,
        after the key ``after`` (as :func:`~cloudperf_core.places.summarize_places`)."""
        ...

    async def put_ranges(self, ranges: Sequence[AddressRange]) -> int:
        """Insert or update ranges by start address (their locations must exist)."""
        ...

    async def list_ranges(
        self, *, location: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[AddressRange]:
        """Ranges (of one location, or all) ordered by IP version, then start address."""
        ...

    async def locate(self, address: str) -> Location | None:
        """The location whose range holds ``address`` (InvalidSpecError if not an address)."""
        ...

    async def locate_many(self, addresses: Sequence[str]) -> dict[str, Location]:
        """address -> location for each given string that is an address in a known range
        (others, hostnames included, are absent); one round trip per few hundred."""
        ...

    async def list_groups(self) -> list[Group]:
        """Every group, ordered by name."""
        ...

    async def get_group(self, name: str) -> Group | None: ...

    async def set_group(self, group: Group) -> None:
        """Create or replace the group with exactly these locations."""
        ...

    async def delete_group(self, name: str) -> bool:
        """Remove the group; False if there was none."""
        ...


class Discovery(Protocol):
    """Which ranges need a sweep, and what sweeps found (4-round history per address)."""

    async def record_sweep(self, sweep: DiscoverySweep) -> bool:
        """Age the tracked addresses of the swept range by one round (``next_history``), add
        the found ones, forget those reaching 0, and mark overlapping ranges checked at
        ``at_ms`` -- all in one transaction with the sweep's report id. False (and nothing
        changed) when that report id was recorded before."""
        ...

    async def ranges_due(self, *, checked_before_ms: int, limit: int = 100) -> list[AddressRange]:
        """Ranges neither swept nor queued since ``checked_before_ms``, least recently
        swept first (never-swept first of all)."""
        ...

    async def mark_ranges_queued(self, starts: Sequence[str], at_ms: int) -> None:
        """Note that discovery of the ranges starting at ``starts`` was queued at ``at_ms``."""
        ...

    async def reachable_addresses(
        self, location: str, *, after: str | None = None, limit: int = 100
    ) -> list[ReachableAddress]:
        """Tracked addresses inside the location's ranges, by IP version then address."""
        ...

    async def reachable_locations(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        """Names (sorted, greater than ``after``) of the locations with a swept range holding
        an address that answered its latest round (history >= ``HISTORY_FOUND``): where the
        scheduler sends latency jobs."""
        ...


class Directory(Protocol):
    """Probes, users and global settings (hashes only; the core does the hashing)."""

    async def put_probe(self, probe: Probe) -> None:
        """Create or replace the probe (every field as given)."""
        ...

    async def get_probe(self, probe_id: str) -> Probe | None: ...

    async def list_probes(self, *, after: str | None = None, limit: int = 100) -> list[Probe]:
        """Probes ordered by id."""
        ...

    async def touch_probe(self, probe_id: str, at_ms: int) -> None:
        """Move last-seen to ``at_ms`` (never back); NotFoundError for an unknown probe."""
        ...

    async def put_user(self, user: User) -> None: ...

    async def get_user(self, name: str) -> User | None: ...

    async def list_users(self, *, after: str | None = None, limit: int = 100) -> list[User]: ...

    async def delete_user(self, name: str) -> bool: ...

    async def get_settings(self) -> Settings: ...

    async def put_settings(self, settings: Settings) -> None: ...


class Catalog(Places, Discovery, Directory, Protocol):
    """The catalogue: places, discovery and the directory, plus its sizes."""

    async def status(self, *, fresh_since_ms: int) -> CatalogStatus:
        """Counts of everything; ranges swept at or after ``fresh_since_ms`` are fresh."""
        ...

    async def close(self) -> None: ...


# --- the probe agent's ports ------------------------------------------------------------------


class ProbeApi(Protocol):
    """The API as a probe agent sees it (authenticated as one probe).

    Errors: :class:`~cloudperf_core.errors.BackendUnavailableError` when the API cannot be
    reached or answers 408, 429 or 5xx (``RetryLaterError``, with the server's Retry-After),
    :class:`~cloudperf_core.errors.RequestRefusedError` for any other 4xx.
    """

    async def poll(self, max_jobs: int) -> PollResponse:
        """Lease up to ``max_jobs`` jobs of this probe's location."""
        ...

    async def submit(self, submission: ReportSubmission) -> SubmitResponse:
        """Hand in a report for a lease (accepted = on the reports queue)."""
        ...

    async def heartbeat(self, beat: Heartbeat) -> None: ...

    async def close(self) -> None: ...


class ReportSpool(Protocol):
    """The agent's durable outbox: submissions survive API outages and agent restarts.

    An item stays pending until :meth:`remove` (delivered) or :meth:`reject` (refused for
    good: moved aside with the reason, never resent, never silently dropped).
    """

    async def put(self, submissions: Sequence[ReportSubmission]) -> list[int]:
        """Add the submissions (all or none); returns their spool ids, in order."""
        ...

    async def pending(self, limit: int = 100) -> list[SpooledReport]:
        """The oldest ``limit`` pending items, oldest first."""
        ...

    async def pending_count(self) -> int:
        """How many items are pending."""
        ...

    async def remove(self, spool_id: int) -> None:
        """Delivered: forget the item (no error if it is gone already)."""
        ...

    async def reject(self, spool_id: int, reason: str) -> None:
        """Refused for good: move the pending item aside with ``reason``."""
        ...

    async def rejected(self, limit: int = 100) -> list[RejectedReport]:
        """The oldest ``limit`` rejected items, oldest first."""
        ...

    async def close(self) -> None: ...
