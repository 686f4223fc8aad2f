"""The probe agent (``cloudperf probe``): poll, run, spool, deliver, heartbeat.

It talks to the API through the :class:`~cloudperf_core.ports.ProbeApi` port and keeps its
reports in a :class:`~cloudperf_core.ports.ReportSpool` until the API has them, so a report
survives API outages and agent restarts and is delivered once (the API's idempotency by
report id backs that up). Three loops share one task group (:meth:`Agent.run`):

- **poll**: while a job slot is free (``max_parallel_jobs``), lease jobs and run each one
  exactly as specified with the core runner (latency: :func:`service.measure`; discovery:
  ``runner.discover``); wrap it in a report with a fresh id, split by targets below
  ``max_body_bytes``, and put it in the spool. A poll that found nothing waits
  ``max(poll_interval_s, the server's poll_after_s)``.
- **deliver**: send the spool oldest first. Accepted, or accepted before: removed. Refused
  with a 4xx (other than 401/403, which are not the report's fault, and 408/429, which mean
  later): moved to the spool's rejected list with the reason, never resent, never dropped.
- **heartbeat**: every ``heartbeat_interval_s``, and at once when whether fping can send
  changes.

Errors back off with full jitter (:class:`~cloudperf_core.backoff.Backoff`), never less than
the server's Retry-After. An fping that cannot send (``ProbePermissionError``: no raw-socket
permission; or any failed job after which one echo request to 127.0.0.1 fails too, e.g.
fping 5.1's "can't create socket") is reported through the heartbeat
(``fping_can_send=false``), never as 100 % loss: the job is not reported (its lease lapses
and another probe gets it) and polling stops until the loopback self-check passes again.
Cancelling :meth:`Agent.run` (SIGTERM) stops everything at once: a running fping is killed,
an unfinished job's lease simply lapses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Protocol

import anyio
import msgspec

from cloudperf_core.backoff import Backoff
from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import (
    CloudperfError,
    ProbePermissionError,
    RequestRefusedError,
    RetryLaterError,
)
from cloudperf_core.models import (
    DiscoverySpec,
    Job,
    LeasedJob,
    ProbeSpec,
    TargetResult,
)
from cloudperf_core.ports import Clock, ProbeApi, ReportSpool
from cloudperf_core.protocol import DiscoveryReport, Heartbeat, ReportSubmission
from cloudperf_core.reports import new_report_id, split_report
from cloudperf_core.service.measure import measure

__all__ = ["Agent", "AgentSettings", "ProbeRunner", "RoundSummary"]

log = logging.getLogger(__name__)

#: What the self-check sends: one echo request to loopback, nothing else.
SELF_CHECK_SPEC = ProbeSpec(targets=("127.0.0.1",), count=1, period_ms=100, timeout_ms=500)
_SUBMISSION_OVERHEAD_BYTES = 1024  # the lease id and the envelope around a report part
_Positive = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the agent paces itself (``cloudperf probe`` flags)."""

    heartbeat_interval_s: _Positive = 30.0
    poll_interval_s: _Positive = 5.0  # least wait after a poll that found no job
    max_parallel_jobs: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2
    backoff_base_s: _Positive = 1.0  # first wait after a failure (then doubling, jittered)
    backoff_cap_s: _Positive = 300.0  # longest wait after failures
    max_body_bytes: Annotated[int, msgspec.Meta(ge=4096, le=1_000_000)] = 900_000
    deliver_batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    agent_version: Annotated[str, msgspec.Meta(max_length=64)] = ""

    def backoff(self) -> Backoff:
        return Backoff(
            base_s=self.backoff_base_s, cap_s=max(self.backoff_cap_s, self.backoff_base_s)
        )


class ProbeRunner(Protocol):
    """What the agent needs of :class:`~cloudperf_core.fping.runner.FpingRunner`."""

    async def measure(
        self, spec: ProbeSpec, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[TargetResult]: ...

    async def discover(self, spec: DiscoverySpec) -> list[str]: ...


@dataclass
class RoundSummary:
    """What the agent did (one ``--once`` round, or since it started)."""

    jobs_run: int = 0
    jobs_failed: int = 0
    delivered: int = 0
    rejected: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


def _retry_after(exc: CloudperfError) -> float:
    return (exc.retry_after_s or 0.0) if isinstance(exc, RetryLaterError) else 0.0


def _not_the_reports_fault(exc: RequestRefusedError) -> bool:
    # 401/403: a revoked token or a disabled probe; the report is fine, keep it for later.
    return exc.status in (401, 403)


class Agent:
    """One probe's agent; ``source`` names it in its reports (the API overrides it with the
    token's probe id anyway)."""

    def __init__(
        self,
        api: ProbeApi,
        spool: ReportSpool,
        runner: ProbeRunner,
        *,
        settings: AgentSettings | None = None,
        clock: Clock | None = None,
        source: str = "probe",
    ) -> None:
        self.api = api
        self.spool = spool
        self.runner = runner
        self.settings = settings or AgentSettings()
        self.clock: Clock = clock or SystemClock()
        self.source = source
        self.stats = RoundSummary()
        self.can_send = True
        self._running = 0
        self._slot_free = anyio.Event()
        self._deliver_now = anyio.Event()
        self._beat_now = anyio.Event()

    # --- the loops ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (SIGTERM): poll, run, deliver and heartbeat concurrently."""
        self.can_send = await self.self_check()
        async with anyio.create_task_group() as group:
            group.start_soon(self._heartbeat_loop)
            group.start_soon(self._delivery_loop)
            group.start_soon(self._poll_loop, group)

    async def run_once(self) -> RoundSummary:
        """One round (``--once``): self-check, heartbeat, one poll, run its jobs, deliver the
        whole spool once. Failures are listed in ``errors``; nothing is retried here."""
        before = dataclasses.replace(self.stats)
        errors: list[str] = []
        self.can_send = await self.self_check()
        if not await self._beat():
            errors.append("heartbeat failed")
        if not self.can_send:
            errors.append("fping cannot send probes: no job was taken")
        else:
            try:
                answer = await self.api.poll(self.settings.max_parallel_jobs)
            except CloudperfError as exc:
                errors.append(f"poll: {exc}")
            else:
                async with anyio.create_task_group() as group:
                    for leased in answer.jobs:
                        self._running += 1
                        group.start_soon(self._job_task, leased)
                if self._lost_sending():  # a job found out that fping cannot send: say so
                    await self._beat()
        try:
            await self.deliver()
        except CloudperfError as exc:
            errors.append(f"delivery: {exc}")
        return RoundSummary(
            jobs_run=self.stats.jobs_run - before.jobs_run,
            jobs_failed=self.stats.jobs_failed - before.jobs_failed,
            delivered=self.stats.delivered - before.delivered,
            rejected=self.stats.rejected - before.rejected,
            pending=await self.spool.pending_count(),
            errors=errors,
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            self._beat_now = anyio.Event()
            await self._beat()
            with anyio.move_on_after(self.settings.heartbeat_interval_s):
                await self._beat_now.wait()

    async def _poll_loop(self, group: anyio.abc.TaskGroup) -> None:
        backoff, unable = self.settings.backoff(), self.settings.backoff()
        while True:
            if not self.can_send:
                await anyio.sleep(unable.next_s())
                if await self.self_check():
                    log.warning("fping can send probes again; taking jobs")
                    self.can_send = True
                    unable.reset()
                    self._beat_now.set()
                continue
            while self._running >= self.settings.max_parallel_jobs:
                self._slot_free = anyio.Event()
                await self._slot_free.wait()
            try:
                answer = await self.api.poll(self.settings.max_parallel_jobs - self._running)
            except CloudperfError as exc:
                delay = backoff.next_s(_retry_after(exc))
                log.warning("poll failed (%s); trying again in %.1f s", exc, delay)
                await anyio.sleep(delay)
                continue
            backoff.reset()
            for leased in answer.jobs:
                self._running += 1
                group.start_soon(self._job_task, leased)
            if not answer.jobs:
                idle_s = max(self.settings.poll_interval_s, answer.poll_after_s)
                await anyio.sleep(min(idle_s, self.settings.backoff_cap_s))

    async def _delivery_loop(self) -> None:
        backoff = self.settings.backoff()
        while True:
            self._deliver_now = anyio.Event()
            try:
                await self.deliver()
            except CloudperfError as exc:
                delay = backoff.next_s(_retry_after(exc))
                pending = await self.spool.pending_count()
                log.warning(
                    "delivery failed (%s); %d report(s) wait in the spool; next try in %.1f s",
                    exc,
                    pending,
                    delay,
                )
                await anyio.sleep(delay)
                continue
            backoff.reset()
            with anyio.move_on_after(self.settings.heartbeat_interval_s):
                await self._deliver_now.wait()

    # --- the steps ----------------------------------------------------------------------------

    def _lost_sending(self) -> bool:
        return not self.can_send  # (a call: jobs running meanwhile may have changed it)

    async def self_check(self) -> bool:
        """Whether fping can send: one echo request to 127.0.0.1 through the runner."""
        try:
            await self.runner.measure(SELF_CHECK_SPEC)
        except ProbePermissionError as exc:
            log.error("fping cannot send probes: %s", exc)
            return False
        except CloudperfError as exc:
            log.error("fping self-check failed: %s", exc)
            return False
        return True

    async def _beat(self) -> bool:
        beat = Heartbeat(
            fping_can_send=self.can_send,
            agent_version=self.settings.agent_version,
            jobs_running=self._running,
        )
        try:
            await self.api.heartbeat(beat)
        except CloudperfError as exc:
            log.warning("heartbeat failed: %s", exc)
            return False
        return True

    async def _job_task(self, leased: LeasedJob) -> None:
        try:
            submissions = await self.run_job(leased)
            if submissions:
                await self.spool.put(submissions)
                self._deliver_now.set()
                self.stats.jobs_run += 1
            else:
                self.stats.jobs_failed += 1
        except CloudperfError as exc:  # the spool failed (disk full?): the lease will lapse
            log.error("could not spool the report of job %s: %s", leased.job.job_id, exc)
            self.stats.jobs_failed += 1
        finally:
            self._running -= 1
            self._slot_free.set()

    async def run_job(self, leased: LeasedJob) -> list[ReportSubmission]:
        """Run one job as specified; its report as submissions (split below the body
        limit), or nothing when it could not run (its lease then lapses)."""
        job = leased.job
        kind = "latency" if isinstance(job, Job) else "discovery"
        log.info("running %s job %s (lease %s)", kind, job.job_id, leased.lease_id)
        try:
            if isinstance(job, Job):
                report = await measure(
                    self.runner, job.spec, source=self.source, clock=self.clock, job_id=job.job_id
                )
                budget = self.settings.max_body_bytes - _SUBMISSION_OVERHEAD_BYTES
                return [
                    ReportSubmission(lease_id=leased.lease_id, report=part)
                    for part in split_report(report, budget)
                ]
            started_at_ms = self.clock.now_ms()
            found = await self.runner.discover(job.spec)
            discovery = DiscoveryReport(
                report_id=new_report_id(),
                started_at_ms=started_at_ms,
                finished_at_ms=self.clock.now_ms(),
                spec=job.spec,
                found=found,
            )
            return [ReportSubmission(lease_id=leased.lease_id, discovery=discovery)]
        except ProbePermissionError as exc:
            log.error("job %s not run: fping cannot send probes (%s)", job.job_id, exc)
            self._cannot_send()
        except CloudperfError as exc:
            log.warning("job %s failed, not reported (its lease lapses): %s", job.job_id, exc)
            # fping may have failed for want of a socket (exit 4, "can't create socket"):
            # one echo request to loopback tells that apart from a problem of this job.
            if not await self.self_check():
                self._cannot_send()
        return []

    def _cannot_send(self) -> None:
        if self.can_send:
            self.can_send = False
            self._beat_now.set()

    async def deliver(self) -> None:
        """Send the spool, oldest first, until it is empty or the API fails (raised).

        Refused for good (4xx): moved aside with the reason. 401/403 and transient errors
        stop the pass (raised) and leave the report pending.
        """
        batch = self.settings.deliver_batch
        while True:
            items = await self.spool.pending(batch)
            for item in items:
                try:
                    answer = await self.api.submit(item.submission)
                except RequestRefusedError as exc:
                    if _not_the_reports_fault(exc):
                        raise
                    await self.spool.reject(item.spool_id, str(exc))
                    self.stats.rejected += 1
                    log.error(
                        "report of lease %s refused for good (%s); kept in the spool's "
                        "rejected list",
                        item.submission.lease_id,
                        exc,
                    )
                    continue
                await self.spool.remove(item.spool_id)
                self.stats.delivered += 1
                log.info("delivered report %s", answer.report_id)
            if len(items) < batch:
                return
