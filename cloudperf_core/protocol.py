"""The probe protocol on the wire: what the agent sends and the API answers (msgspec).

Shared by :mod:`cloudperf_core.agent` (the client side) and :mod:`cloudperf_core.api`
(the server side), so the two cannot drift; the OpenAPI document is generated from them.

- ``POST /v1/probe/poll``: :class:`PollRequest` -> :class:`PollResponse`
- ``POST /v1/probe/reports``: :class:`ReportSubmission` -> 202 :class:`SubmitResponse`
- ``POST /v1/probe/heartbeat``: :class:`Heartbeat` -> 204
- ``GET /v1/probes``: :class:`ProbeList` of :class:`ProbeView` (for users, not probes)

Reports travel to the worker on the reports queue as a :data:`QueuedReport` envelope. The
agent keeps what it has not delivered yet in its spool as :class:`SpooledReport` items.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from cloudperf_core.models import DiscoverySpec, LeasedJob, MeasurementReport


class PollRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Ask for up to ``max_jobs`` jobs of the probe's location."""

    max_jobs: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class PollResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Leased jobs (possibly none); ``poll_after_s`` is when to ask again at the earliest."""

    jobs: list[LeasedJob]
    paused: bool = False
    poll_after_s: float = 5.0


class DiscoveryReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The addresses that answered one discovery job."""

    report_id: str
    started_at_ms: int
    spec: DiscoverySpec
    found: list[str]
    finished_at_ms: int | None = None


#: Lease ids travel in cache keys and logs: a boring charset, bounded.
LeaseId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]


class ReportSubmission(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A report for a leased job: exactly one of ``report`` (latency) or ``discovery``."""

    lease_id: LeaseId
    report: MeasurementReport | None = None
    discovery: DiscoveryReport | None = None


class SubmitResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Accepted (on the reports queue); ``report_id`` is the stored, probe-namespaced id."""

    report_id: str


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sign of life with what the API shows about the probe."""

    fping_can_send: bool
    agent_version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    jobs_running: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0


class QueuedLatency(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="latency"):
    """A latency report on the reports queue (source and id already set by the API)."""

    report: MeasurementReport


class QueuedDiscovery(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="discovery"):
    """A discovery report on the reports queue, with the probe that made it."""

    probe_id: str
    report: DiscoveryReport


QueuedReport = QueuedLatency | QueuedDiscovery


# --- what GET /v1/probes shows ----------------------------------------------------------------


class ProbeView(msgspec.Struct, kw_only=True):
    """One probe as users see it.

    ``online``: seen (any authenticated probe call) within the service's ``probe_online_s``.
    ``jobs_per_minute``, ``reports_per_minute``: jobs leased and reports accepted over the
    last five complete minutes, per minute.
    ``fping_can_send``, ``agent_version``, ``jobs_running``: from its last heartbeat
    (``None`` when none arrived within a day).
    """

    probe_id: str
    name: str | None
    location: str | None
    enabled: bool
    online: bool
    last_seen_ms: int | None
    jobs_per_minute: float
    reports_per_minute: float
    fping_can_send: bool | None = None
    agent_version: str | None = None
    jobs_running: int | None = None


class ProbeList(msgspec.Struct, kw_only=True):
    """A page of probes by id; ask again with ``after=next_after`` while it is not null."""

    probes: list[ProbeView]
    next_after: str | None = None


# --- the agent's spool --------------------------------------------------------------------


class SpooledReport(msgspec.Struct, frozen=True, kw_only=True):
    """A submission waiting in the agent's spool; ``spool_id`` orders them (oldest first)."""

    spool_id: int
    submission: ReportSubmission
    queued_at_ms: int


class RejectedReport(msgspec.Struct, frozen=True, kw_only=True):
    """A submission the API refused for good, kept with the reason (never resent)."""

    spool_id: int
    submission: ReportSubmission
    queued_at_ms: int
    rejected_at_ms: int
    reason: str
