"""The lease ledger, and checking a report against the lease it names.

:func:`~cloudperf_core.service.probes.poll` writes a :class:`LeaseRecord` per lease handed
out (cache key :func:`lease_key`); :func:`accept_latency` and :func:`accept_discovery` check a
submitted report against it and return what goes on the reports queue:

- the same kind of job, the same spec (a latency report may name a subset of the job's
  targets: the parts of a split report), the leased job's id;
- a start time in [lease handed out - skew, now + skew] (``ClockSkewError``);
- the report rules of :mod:`cloudperf_core.reports`; a discovery report's addresses inside its
  job's range and at most its ``max_hosts``;
- source set to the probe, id namespaced ``<probe_id>:<report_id>``; a latency report split
  by targets to fit one queue message (parts ``<id>.<i>of<n>``, the same for the same report).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from cloudperf_core.bodies import body_to_text
from cloudperf_core.catalog import Probe
from cloudperf_core.errors import (
    ClockSkewError,
    ForeignLeaseError,
    InvalidSpecError,
    ReportRejectedError,
    SpecMismatchError,
    UnknownLeaseError,
)
from cloudperf_core.fping.argv import discovery_bounds
from cloudperf_core.models import AnyJob, DiscoveryJob, Job, MeasurementReport
from cloudperf_core.ports import Cache
from cloudperf_core.protocol import DiscoveryReport, QueuedDiscovery, QueuedLatency
from cloudperf_core.reports import check_report_id, report_digest, split_report, validate_report
from cloudperf_core.settings import ServiceSettings

__all__ = [
    "Accepted",
    "LeaseRecord",
    "accept_discovery",
    "accept_latency",
    "lease_key",
    "lease_of",
]

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_ENVELOPE_BYTES = 64  # what the queue envelope adds around a report, with room to spare


class LeaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The ledger's memory of one lease handed out."""

    probe_id: str
    job: AnyJob
    leased_at_ms: int
    expires_at_ms: int


_lease_decoder = msgspec.json.Decoder(LeaseRecord)


def lease_key(lease_id: str) -> str:
    return f"lease:{lease_id}"


@dataclass(frozen=True)
class Accepted:
    """A report that passed: its namespaced id, its content digest, its queue messages."""

    report_id: str  # namespaced
    digest: bytes
    bodies: list[bytes]  # queue messages


def check_start(started_at_ms: int, lease: LeaseRecord, now_ms: int, skew_s: int) -> None:
    """ClockSkewError unless the start lies in [handed out - skew, now + skew]."""
    skew_ms = skew_s * 1000
    earliest, latest = lease.leased_at_ms - skew_ms, now_ms + skew_ms
    if not earliest <= started_at_ms <= latest:
        raise ClockSkewError(
            f"started_at_ms {started_at_ms} is outside {earliest}..{latest} (the lease was "
            f"handed out at {lease.leased_at_ms}, now is {now_ms}, allowed skew {skew_s} s): "
            "is the probe's clock right?"
        )


def accept_latency(
    report: MeasurementReport, lease: LeaseRecord, now_ms: int, settings: ServiceSettings
) -> Accepted:
    """A latency report checked against its lease, sourced, namespaced, enveloped, split."""
    job = lease.job
    if not isinstance(job, Job):
        raise SpecMismatchError("this lease is for a discovery job: send 'discovery'")
    if report.job_id not in (None, job.job_id):
        raise SpecMismatchError(f"job_id {report.job_id!r} is not the leased job {job.job_id!r}")
    spec = report.spec
    if msgspec.structs.replace(spec, targets=job.spec.targets) != job.spec:
        raise SpecMismatchError("the report's spec differs from the leased job's")
    unknown = set(spec.targets) - set(job.spec.targets)
    if unknown:
        raise SpecMismatchError(f"targets not in the leased job: {sorted(unknown)[:3]}")
    check_start(report.started_at_ms, lease, now_ms, settings.clock_skew_s)
    check_report_id(report.report_id)
    stored = msgspec.structs.replace(
        report,
        report_id=f"{lease.probe_id}:{report.report_id}",
        source=lease.probe_id,
        job_id=job.job_id,
    )
    validate_report(stored, now_ms=now_ms)
    return Accepted(
        report_id=stored.report_id,
        digest=report_digest(stored),
        bodies=_latency_bodies(stored, settings.max_queued_report_bytes),
    )


def _queued_size(body: bytes) -> int:
    """Bytes the body takes as a queue message (base64 when it is not plain text)."""
    text, encoding = body_to_text(body)
    return len(body) if encoding is None else len(text)


def _latency_bodies(report: MeasurementReport, max_bytes: int) -> list[bytes]:
    whole = _encoder.encode(QueuedLatency(report=report))
    if _queued_size(whole) <= max_bytes:
        return [whole]
    # Split by targets; parts are <id>.<i>of<n>, the same for the same report, so a resent
    # report gives the same parts and ingest stays idempotent. Base64 grows a body by 4/3.
    budget = max_bytes - _ENVELOPE_BYTES
    if _queued_size(whole) != len(whole):
        budget = budget * 3 // 4
    bodies = [_encoder.encode(QueuedLatency(report=p)) for p in split_report(report, budget)]
    if any(_queued_size(b) > max_bytes for b in bodies):
        raise ReportRejectedError(f"report {report.report_id} cannot be split to fit the queue")
    return bodies


def accept_discovery(
    report: DiscoveryReport, lease: LeaseRecord, now_ms: int, settings: ServiceSettings
) -> Accepted:
    """A discovery report checked against its lease (addresses in range), namespaced."""
    job = lease.job
    if not isinstance(job, DiscoveryJob):
        raise SpecMismatchError("this lease is for a latency job: send 'report'")
    if report.spec != job.spec:
        raise SpecMismatchError("the report's spec differs from the leased job's")
    check_start(report.started_at_ms, lease, now_ms, settings.clock_skew_s)
    finished = report.finished_at_ms
    if finished is not None and not report.started_at_ms <= finished <= now_ms + (
        settings.clock_skew_s * 1000
    ):
        raise ReportRejectedError("finished_at_ms is before started_at_ms or in the future")
    check_report_id(report.report_id)
    found = _found_in_range(job, report.found)
    stored = msgspec.structs.replace(
        report, report_id=f"{lease.probe_id}:{report.report_id}", found=found
    )
    check_report_id(stored.report_id)
    body = _encoder.encode(QueuedDiscovery(probe_id=lease.probe_id, report=stored))
    if _queued_size(body) > settings.max_queued_report_bytes:
        raise ReportRejectedError(
            f"discovery report of {len(found)} addresses is larger than one queue message"
            f" ({settings.max_queued_report_bytes} bytes): use smaller ranges"
        )
    digest = hashlib.blake2b(_encoder.encode(stored), digest_size=16).digest()
    return Accepted(report_id=stored.report_id, digest=digest, bodies=[body])


def _found_in_range(job: DiscoveryJob, found: Sequence[str]) -> list[str]:
    """The found addresses in canonical form, each once; ReportRejectedError if one is not an
    address inside the job's range, or there are more than the job's max_hosts."""
    if len(found) > job.spec.max_hosts:
        raise ReportRejectedError(
            f"{len(found)} addresses found, more than the job's max_hosts {job.spec.max_hosts}"
        )
    try:
        first, last = discovery_bounds(job.spec)
    except InvalidSpecError as exc:  # a job we issued ourselves: should not happen
        raise ReportRejectedError(f"the leased job's range is invalid: {exc}") from exc
    out: dict[str, None] = {}
    for text in found:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ReportRejectedError(f"found {text[:64]!r} is not an IP address") from None
        if address.version != first.version or not int(first) <= int(address) <= int(last):
            raise ReportRejectedError(
                f"found address {address} is outside the job's range {first}-{last}"
            )
        out[str(address)] = None
    return list(out)


async def lease_of(cache: Cache, lease_id: str, probe: Probe) -> LeaseRecord:
    """The ledger's record of ``lease_id``: UnknownLeaseError if none, ForeignLeaseError
    if it was handed to another probe."""
    raw = await cache.get(lease_key(lease_id))
    if raw is None:
        raise UnknownLeaseError(f"no lease {lease_id!r} was handed out (or it was long ago)")
    try:
        record = _lease_decoder.decode(raw)
    except msgspec.MsgspecError:
        log.error("lease ledger entry %s is not readable; treating it as unknown", lease_id)
        raise UnknownLeaseError(f"lease {lease_id!r} is not known") from None
    if record.probe_id != probe.probe_id:
        raise ForeignLeaseError(f"lease {lease_id!r} belongs to another probe")
    return record
