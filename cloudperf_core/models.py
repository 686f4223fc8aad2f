"""Typed messages of cloudperf: specs, jobs, reports, results, stats.

Everything that crosses a process, queue or storage boundary is a ``msgspec.Struct`` so it
encodes to JSON/MessagePack and validates on decode. RTTs are integers in microseconds
(``*_us``); human-facing output converts to milliseconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from cloudperf_core import limits
from cloudperf_core.errors import InvalidSpecError

# Bounded integers of the specs (see ``limits`` for why each bound is what it is).
Count = Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_COUNT)]
PeriodMs = Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_PERIOD_MS)]
TimeoutMs = Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_TIMEOUT_MS)]
IntervalMs = Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_INTERVAL_MS)]
SizeBytes = Annotated[int, msgspec.Meta(ge=0, le=limits.MAX_SIZE_BYTES)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=limits.MAX_RETRIES)]
MaxHosts = Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_HOSTS)]

# --- what to measure ----------------------------------------------------------------------


class ProbeSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One latency measurement: ``count`` echo requests to each target.

    ``period_ms`` is the gap between probes to the same target (fping ``-p``), ``interval_ms``
    the gap between any two packets (fping ``-i``, so the total packet rate is
    ``1000 / interval_ms``), ``timeout_ms`` how long a reply may take (fping ``-t``; it is
    independent of the period: a reply after the next probe was sent still counts).
    """

    targets: tuple[str, ...]
    count: Count = 10
    period_ms: PeriodMs = 1000
    timeout_ms: TimeoutMs = 1000
    interval_ms: IntervalMs = 10
    size_bytes: SizeBytes = 56
    retries: Retries = 0
    ip_version: Literal[4, 6] | None = None
    source_address: str | None = None


class DiscoverySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Find reachable addresses in a range: ``start``-``end`` or a CIDR in ``start``."""

    start: str
    end: str | None = None
    max_hosts: MaxHosts = 256
    timeout_ms: TimeoutMs = 500
    retries: Retries = 1
    interval_ms: IntervalMs = 10
    source_address: str | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="latency"):
    """A structured latency job handed to a probe (never a command string)."""

    job_id: str
    source: str
    spec: ProbeSpec
    issued_at_ms: int = 0


class DiscoveryJob(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="discovery"):
    """A structured discovery job handed to a probe."""

    job_id: str
    source: str
    spec: DiscoverySpec
    issued_at_ms: int = 0


AnyJob = Job | DiscoveryJob


class LeasedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job a worker holds until ``lease_expires_at_ms``; ``lease_id`` acknowledges it."""

    job: AnyJob
    lease_id: str
    lease_expires_at_ms: int
    deliveries: int = 1


# --- what fping told us -------------------------------------------------------------------


# gc=False: a parse creates one of these per target (200k for a large batch) and they can never
# be part of a reference cycle (their fields are strings, numbers and lists of those), so
# keeping them out of the cyclic GC saves collections over them (measured ~5-10 % of a parse).
class TargetResult(msgspec.Struct, gc=False):
    """Everything fping said about one target in one run.

    ``sent``/``received`` are ``None`` when fping printed no counts (default, ``-a``, ``-u``
    modes, or a name that never resolved). ``rtts_us`` holds one entry per probe position,
    ``None`` for a lost probe, or is ``None`` as a whole when fping printed no per-probe values.
    ``min_us``/``avg_us``/``max_us`` are fping's own summary where it printed one.
    ``alive`` is fping's verdict in default/``-a``/``-u`` modes.
    """

    target: str
    sent: int | None = None
    received: int | None = None
    duplicates: int = 0
    rtts_us: list[int | None] | None = None
    min_us: int | None = None
    avg_us: int | None = None
    max_us: int | None = None
    alive: bool | None = None
    errors: list[str] = msgspec.field(default_factory=list)

    @property
    def loss_ratio(self) -> float | None:
        """``(sent - received) / sent`` clamped to [0, 1]; ``None`` when nothing was sent."""
        if not self.sent or self.received is None:
            return None
        lost = self.sent - min(self.received, self.sent)
        return lost / self.sent


class ParseWarning(msgspec.Struct, frozen=True):
    """A line the lenient parser could not understand (kept, never dropped)."""

    line_no: int
    line: str
    reason: str = "unrecognised line"


class FpingOutput(msgspec.Struct, kw_only=True):
    """The parse of one fping run: targets in fping's order, plus what did not parse.

    ``fatal`` holds fping's own usage/system error lines (``fping: ...``).
    """

    targets: list[TargetResult]
    warnings: list[ParseWarning] = msgspec.field(default_factory=list)
    fatal: list[str] = msgspec.field(default_factory=list)


# --- statistics ---------------------------------------------------------------------------


class LatencyStats(msgspec.Struct, kw_only=True):
    """Loss and latency of one target (or group), RTT figures in microseconds.

    Exact over raw samples for one batch; from the merged sketch (<= 1 % relative error on
    percentiles; count, min, max, mean exact) across batches, time and groups.
    """

    sent: int = 0
    received: int = 0
    duplicates: int = 0
    loss_ratio: float | None = None
    min_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None
    stddev_us: float | None = None
    jitter_us: float | None = None
    p50_us: float | None = None
    p70_us: float | None = None
    p90_us: float | None = None
    p95_us: float | None = None
    p99_us: float | None = None


# --- reports and storage ------------------------------------------------------------------


class MeasurementReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a probe (or ``cloudperf measure``) produced for one job: the unit of ingest.

    ``report_id`` is chosen by the producer and makes ingest idempotent: a report sent twice
    is stored once.
    """

    report_id: str
    source: str
    started_at_ms: int
    spec: ProbeSpec
    results: list[TargetResult]
    job_id: str | None = None
    finished_at_ms: int | None = None


class WindowAggregate(msgspec.Struct, kw_only=True):
    """Exact counts plus the sketch for one (source, target, time window).

    Everything here merges exactly except the percentiles, which come from ``sketch``
    (``LatencySketch.to_bytes()``). ``rtt_sumsq_us2`` keeps stddev exact across merges;
    ``jitter_sum_us``/``jitter_pairs`` keep jitter (mean absolute consecutive difference
    within each batch) exact across merges.
    """

    source: str
    target: str
    window_start_s: int
    window_s: int
    sent: int = 0
    received: int = 0
    duplicates: int = 0
    rtt_sum_us: int = 0
    rtt_sumsq_us2: float = 0.0
    rtt_min_us: int | None = None
    rtt_max_us: int | None = None
    jitter_sum_us: int = 0
    jitter_pairs: int = 0
    sketch: bytes = b""
    # The catalogue location of the target when ingest (or a later retag) knew it; merging
    # keeps the newest known value. Not part of the row's identity.
    dest_location_id: int | None = None


#: The identity of a stored window row, ``(source, target, window_start_s, window_s)``: two rows
#: of one pair starting at the same second but of different lengths (a minute and the hour it
#: was rolled up into) are different rows.
WindowKey = tuple[str, str, int, int]


class StatsQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which windows a store returns: each filter ``None`` = any, a tuple = any of its values
    (an empty tuple matches nothing); ``dest_location_ids`` matches tagged windows only;
    time range ``[since_s, until_s)`` on the window start."""

    sources: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    dest_location_ids: tuple[int, ...] | None = None
    since_s: int | None = None
    until_s: int | None = None


class DataPresence(msgspec.Struct, kw_only=True):
    """What has windows in a time range: sources, tagged destination locations, and the
    number of distinct (source, target) pairs."""

    sources: list[str] = msgspec.field(default_factory=list)
    dest_location_ids: list[int] = msgspec.field(default_factory=list)
    pairs: int = 0


class PlaceQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which windows to merge, by place: ``service.query_stats``'s question.

    Sources: ``probes`` (probe ids, the windows' ``source``) and/or ``probe_locations``
    (location names of the probes). Destinations: ``targets`` (addresses), ``locations``
    (names), ``cities`` (``CC/City``), ``asns``, ``countries`` (codes), ``groups`` (names).
    ``None`` = any; a tuple = any of its values; several filters = all of them.
    """

    probes: tuple[str, ...] | None = None
    probe_locations: tuple[str, ...] | None = None
    targets: tuple[str, ...] | None = None
    locations: tuple[str, ...] | None = None
    cities: tuple[str, ...] | None = None
    asns: tuple[int, ...] | None = None
    countries: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    since_s: int | None = None
    until_s: int | None = None


SourceDim = Literal["probe", "probe_location", "none"]
DestDim = Literal["target", "location", "city", "asn", "country", "group", "none"]
GroupBy = Literal[
    "pair", "source", "target", "location", "city", "asn", "country", "group", "overall"
]


class Grouping(msgspec.Struct, frozen=True, kw_only=True):
    """One group per (source key, destination key); ``none`` merges that side into one."""

    source: SourceDim = "none"
    dest: DestDim = "none"


class GroupStats(msgspec.Struct, kw_only=True):
    """Merged stats of one group.

    ``source`` / ``dest`` are the group's keys (``None`` when that side is not grouped, or
    for windows the dimension does not know, e.g. an untagged target grouped by country):
    probe id or probe location name; target address, location name, ``CC/City``,
    ``AS<n>``, country code or group name. ``source_name`` / ``dest_name`` are the
    human-readable names where the catalogue has them (probe name; city, ASN or country
    name).
    """

    source: str | None
    dest: str | None
    stats: LatencyStats
    windows: int = 0
    source_name: str | None = None
    dest_name: str | None = None


class ReportWindows(msgspec.Struct, kw_only=True):
    """The window rows one report contributes; the store writes them once per report id.

    ``digest`` fingerprints the report's content (``reports.report_digest``); the store keeps
    it with the id to tell a resent report (same digest) from a reused id (another digest).
    ``b""`` means unknown: such a report is never called a conflict.
    """

    report_id: str
    windows: list[WindowAggregate]
    digest: bytes = b""


class ReceivedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message taken from a queue under a lease; ``receipt`` acknowledges or releases it."""

    body: bytes
    receipt: str
    message_id: str
    deliveries: int = 1


class ReportQueueDepth(msgspec.Struct, frozen=True, kw_only=True):
    """Messages on the reports queue: visible, received and not yet acknowledged, and in its
    dead-letter queue (``None`` where the queue has none). SQS's counts are approximate."""

    waiting: int
    in_flight: int
    dead_letters: int | None


class ProcessResult(msgspec.Struct, frozen=True, kw_only=True):
    """How one fping process ended."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes


class IngestOutcome(msgspec.Struct, kw_only=True):
    """Which report ids a store wrote now, which it had already ingested (with the same
    content, or content it cannot compare), and which it had ingested with other content
    (``conflicts``: not written)."""

    ingested: list[str] = msgspec.field(default_factory=list)
    duplicates: list[str] = msgspec.field(default_factory=list)
    conflicts: list[str] = msgspec.field(default_factory=list)


# --- sessions -----------------------------------------------------------------------------


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A login session, keyed by a hash of its token (the token itself is never stored)."""

    token_hash: str
    user: str
    role: str
    created_at_ms: int
    expires_at_ms: int

    @classmethod
    def starting(cls, token_hash: str, user: str, role: str, now_ms: int, ttl_ms: int) -> Session:
        """A session from ``now_ms`` for ``ttl_ms`` (> 0, else InvalidSpecError)."""
        if ttl_ms <= 0:
            raise InvalidSpecError(f"a session needs a positive TTL, not {ttl_ms / 1000} s")
        return cls(
            token_hash=token_hash,
            user=user,
            role=role,
            created_at_ms=now_ms,
            expires_at_ms=now_ms + ttl_ms,
        )
