"""The probe protocol, server side: poll for jobs, submit reports, heartbeat, list probes.

The API authenticates the probe (its token) and calls these with it; nothing here trusts
what a probe says about itself:

- :func:`poll` leases jobs of the probe's LOCATION (probes at one location share them) and
  writes each lease to the lease ledger (cache key ``lease:<lease_id>``, kept
  ``lease_ledger_ttl_s``), so a report for it can be checked even after the lease lapsed or
  was acknowledged: the agent's spool may deliver it late.
- :func:`submit` checks a report against its lease (the probe's own lease, the same kind,
  spec and targets, a start time in [handed out - skew, now + skew]), sets its source to the
  probe id and namespaces its id (``<probe_id>:<report_id>``), puts it on the reports queue
  as a :data:`~cloudperf_core.protocol.QueuedReport` envelope (a latency report split by
  targets to fit one queue message; the checks are in :mod:`cloudperf_core.service.leases`),
  then acknowledges the lease. The accepted report id is
  remembered with the report's digest (``report:<id>``) for as long as leases are: the same
  report again is answered the same way without being queued or counted again; the same id
  with other content is a conflict.
- :func:`heartbeat` records liveness and what the agent says about its fping.
- :func:`list_probes` is what ``GET /v1/probes`` shows.

Every authenticated probe call marks the probe alive (``LivenessTracker.seen``). Counters
(``RateCounters``): ``jobs``/``jobs:<probe_id>`` (+n leased), ``reports``/
``reports:<probe_id>`` (+1 per accepted report).
"""

from __future__ import annotations

import logging
from contextlib import suppress

import msgspec

from cloudperf_core.catalog import Probe
from cloudperf_core.clock import MINUTE_MS, minute_start_ms
from cloudperf_core.errors import (
    InvalidSpecError,
    NotFoundError,
    ReportConflictError,
)
from cloudperf_core.ports import (
    Cache,
    Clock,
    Directory,
    JobQueue,
    LivenessTracker,
    RateCounters,
    ReportQueue,
)
from cloudperf_core.protocol import (
    Heartbeat,
    PollRequest,
    PollResponse,
    ProbeList,
    ProbeView,
    ReportSubmission,
    SubmitResponse,
)
from cloudperf_core.service.leases import (
    LeaseRecord,
    accept_discovery,
    accept_latency,
    lease_key,
    lease_of,
)
from cloudperf_core.settings import ServiceSettings

__all__ = [
    "ProbeHealth",
    "heartbeat",
    "list_probes",
    "poll",
    "submit",
]

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
STATUS_TTL_S = 86_400  # a heartbeat's content is shown for a day
RATE_MINUTES = 5  # jobs/reports per minute: averaged over this many complete minutes
_CATALOG_TOUCH_MS = 10 * MINUTE_MS  # how stale the catalogue's last-seen may get


class ProbeHealth(msgspec.Struct, frozen=True, kw_only=True):
    """A probe's last heartbeat (cache key ``probe_status:<probe_id>``)."""

    fping_can_send: bool
    agent_version: str
    jobs_running: int
    at_ms: int


def _report_key(report_id: str) -> str:
    return f"report:{report_id}"


def _status_key(probe_id: str) -> str:
    return f"probe_status:{probe_id}"


_health_decoder = msgspec.json.Decoder(ProbeHealth)


# --- poll -------------------------------------------------------------------------------------


async def poll(
    *,
    probe: Probe,
    request: PollRequest,
    directory: Directory,
    jobs: JobQueue,
    cache: Cache,
    liveness: LivenessTracker,
    counters: RateCounters,
    clock: Clock,
    settings: ServiceSettings,
) -> PollResponse:
    """Lease up to ``request.max_jobs`` (at most ``settings.max_jobs_per_poll``) jobs of the
    probe's location; none while the system is paused or the probe has no location."""
    now_ms = clock.now_ms()
    await liveness.seen(probe.probe_id, now_ms)
    idle_s = float(settings.poll_idle_s)
    if (await directory.get_settings()).paused:
        return PollResponse(jobs=[], paused=True, poll_after_s=idle_s)
    if probe.location is None:
        return PollResponse(jobs=[], poll_after_s=idle_s)
    wanted = min(request.max_jobs, settings.max_jobs_per_poll)
    leased = await jobs.lease(probe.location, wanted, settings.lease_s)
    for item in leased:
        record = LeaseRecord(
            probe_id=probe.probe_id,
            job=item.job,
            leased_at_ms=now_ms,
            expires_at_ms=item.lease_expires_at_ms,
        )
        await cache.set(
            lease_key(item.lease_id), _encoder.encode(record), ttl_s=settings.lease_ledger_ttl_s
        )
    if leased:
        await counters.hit("jobs", now_ms, len(leased))
        await counters.hit(f"jobs:{probe.probe_id}", now_ms, len(leased))
    return PollResponse(jobs=leased, poll_after_s=0.0 if leased else idle_s)


# --- submit -----------------------------------------------------------------------------------


async def submit(
    *,
    probe: Probe,
    submission: ReportSubmission,
    jobs: JobQueue,
    reports: ReportQueue,
    cache: Cache,
    liveness: LivenessTracker,
    counters: RateCounters,
    clock: Clock,
    settings: ServiceSettings,
) -> SubmitResponse:
    """Check a report against its lease, queue it, then acknowledge the lease.

    Raises InvalidSpecError (not exactly one of report/discovery), UnknownLeaseError,
    ForeignLeaseError, SpecMismatchError, ClockSkewError, ReportRejectedError (invalid),
    ReportConflictError (the id was accepted before with other content).
    """
    now_ms = clock.now_ms()
    await liveness.seen(probe.probe_id, now_ms)
    if (submission.report is None) == (submission.discovery is None):
        raise InvalidSpecError("send exactly one of 'report' (latency) or 'discovery'")
    lease = await lease_of(cache, submission.lease_id, probe)
    if submission.report is not None:
        accepted = accept_latency(submission.report, lease, now_ms, settings)
    else:
        assert submission.discovery is not None
        accepted = accept_discovery(submission.discovery, lease, now_ms, settings)
    key = _report_key(accepted.report_id)
    seen = await cache.get(key)
    if seen is None:
        await reports.send(accepted.bodies)
        await cache.set(key, accepted.digest, ttl_s=settings.lease_ledger_ttl_s)
        await counters.hit("reports", now_ms)
        await counters.hit(f"reports:{probe.probe_id}", now_ms)
    elif seen != accepted.digest:
        raise ReportConflictError(
            f"report {accepted.report_id} was accepted before with other content"
        )
    with suppress(NotFoundError):  # lapsed, or acknowledged by an earlier part or copy
        await jobs.ack(submission.lease_id)
    return SubmitResponse(report_id=accepted.report_id)


# --- heartbeat and the probe list -------------------------------------------------------------


async def heartbeat(
    *,
    probe: Probe,
    beat: Heartbeat,
    directory: Directory,
    cache: Cache,
    liveness: LivenessTracker,
    clock: Clock,
) -> None:
    """Record that the probe lives and what its agent says (can fping send, version, load).

    The catalogue's durable last-seen is moved at most every ten minutes (a database write
    per heartbeat of every probe would be the busiest statement of the system).
    """
    now_ms = clock.now_ms()
    await liveness.seen(probe.probe_id, now_ms)
    health = ProbeHealth(
        fping_can_send=beat.fping_can_send,
        agent_version=beat.agent_version,
        jobs_running=beat.jobs_running,
        at_ms=now_ms,
    )
    await cache.set(_status_key(probe.probe_id), _encoder.encode(health), ttl_s=STATUS_TTL_S)
    if probe.last_seen_ms is None or now_ms - probe.last_seen_ms >= _CATALOG_TOUCH_MS:
        await directory.touch_probe(probe.probe_id, now_ms)
    if not beat.fping_can_send:
        log.warning("probe %s reports that its fping cannot send probes", probe.probe_id)


async def list_probes(
    *,
    directory: Directory,
    cache: Cache,
    liveness: LivenessTracker,
    counters: RateCounters,
    clock: Clock,
    settings: ServiceSettings,
    after: str | None = None,
    limit: int = 100,
) -> ProbeList:
    """A page of probes (by id, after ``after``) with what ``ProbeView`` describes."""
    now_ms = clock.now_ms()
    probes = await directory.list_probes(after=after, limit=limit)
    seen = await liveness.last_seen([p.probe_id for p in probes])
    # Complete minutes only, as GET /v1/status counts them (the current one is still counting).
    until_ms = minute_start_ms(now_ms)
    since_ms = until_ms - RATE_MINUTES * MINUTE_MS
    views: list[ProbeView] = []
    for probe in probes:
        pid = probe.probe_id
        times = [t for t in (seen.get(pid), probe.last_seen_ms) if t is not None]
        last_ms = max(times) if times else None
        health = await _health(cache, pid)
        jobs = await counters.per_minute(f"jobs:{pid}", since_ms, until_ms)
        reports = await counters.per_minute(f"reports:{pid}", since_ms, until_ms)
        views.append(
            ProbeView(
                probe_id=pid,
                name=probe.name,
                location=probe.location,
                enabled=probe.enabled,
                online=last_ms is not None and now_ms - last_ms <= settings.probe_online_s * 1000,
                last_seen_ms=last_ms,
                jobs_per_minute=sum(c for _, c in jobs) / RATE_MINUTES,
                reports_per_minute=sum(c for _, c in reports) / RATE_MINUTES,
                fping_can_send=None if health is None else health.fping_can_send,
                agent_version=None if health is None else health.agent_version,
                jobs_running=None if health is None else health.jobs_running,
            )
        )
    next_after = probes[-1].probe_id if probes and len(probes) == limit else None
    return ProbeList(probes=views, next_after=next_after)


async def _health(cache: Cache, probe_id: str) -> ProbeHealth | None:
    raw = await cache.get(_status_key(probe_id))
    if raw is None:
        return None
    try:
        return _health_decoder.decode(raw)
    except msgspec.MsgspecError:
        log.warning("unreadable status of probe %s; ignored", probe_id)
        return None
