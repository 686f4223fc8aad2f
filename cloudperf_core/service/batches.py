"""Batches of queued reports: decode, validate, ingest, and settle each message.

The one rule behind both ways a worker gets reports (``service.process_report_batch`` pulls
them from the report queue; ``service.ingest_sqs_records`` is given the SQS records Lambda
pushes): every report that decodes and validates is ingested in one store transaction; if
that transaction fails for a reason a retry will not fix (a corrupt stored row, a window
pushed past the store limits), the batch is split in halves and each half ingested on its
own, down to single reports, so only the reports that fail alone fail. A transient store
failure (``BackendUnavailableError``) escapes, and the caller fails the whole batch for the
queue to deliver again (harmless: ingest is idempotent by report id).

What a message may hold (:func:`decode_queued`): the API's envelope
(:data:`~cloudperf_core.protocol.QueuedReport`, tagged by ``kind``): a latency report, stored
as above, or a discovery report, recorded with the catalogue's ``record_sweep`` (idempotent
by its report id; a sweep that the catalogue refuses fails alone). A bare
``MeasurementReport`` (no ``kind``) is still accepted as a latency report: that is what
``cloudperf ingest`` and producers before the envelope send, and only trusted producers
write to the queue (probes reach it only through the API, which sets source and id).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from cloudperf_core.bodies import ENCODING_ATTRIBUTE, body_from_text
from cloudperf_core.catalog import DiscoverySweep
from cloudperf_core.errors import (
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
    MessageDecodeError,
    ReportRejectedError,
)
from cloudperf_core.fping.argv import discovery_bounds
from cloudperf_core.models import IngestOutcome, MeasurementReport, ReportWindows
from cloudperf_core.ports import Discovery, MeasurementStore, Places
from cloudperf_core.protocol import QueuedDiscovery, QueuedLatency, QueuedReport
from cloudperf_core.reports import check_report_id, decode_report, report_digest, validate_report
from cloudperf_core.windows import aggregate

__all__ = [
    "BatchResult",
    "SweepRecorder",
    "Tagger",
    "WorkerCatalog",
    "decode_queued",
    "ingest_bodies",
    "report_windows",
    "sqs_record_bodies",
    "sweep_of",
]

log = logging.getLogger(__name__)

#: Sets ``dest_location_id`` on a batch's windows before they are stored (the catalogue).
Tagger = Callable[[Sequence[ReportWindows]], Awaitable[None]]
#: Records one discovery sweep; False when its report id was recorded before (the catalogue).
SweepRecorder = Callable[[DiscoverySweep], Awaitable[bool]]


class WorkerCatalog(Places, Discovery, Protocol):
    """What the worker needs of the catalogue: locate targets, record sweeps."""


class _Kind(msgspec.Struct):
    kind: str | None = None  # every other field is skipped unread


_kind_decoder = msgspec.json.Decoder(_Kind)
_envelope_decoder = msgspec.json.Decoder(QueuedReport)


def decode_queued(body: bytes, *, now_ms: int) -> MeasurementReport | QueuedDiscovery:
    """One queue message: a latency report (enveloped or bare) or a discovery envelope,
    validated; ReportRejectedError with the reason otherwise."""
    try:
        kind = _kind_decoder.decode(body).kind
    except msgspec.MsgspecError as exc:
        raise ReportRejectedError(f"malformed report: {exc}") from exc
    if kind is None:
        return decode_report(body, now_ms=now_ms)
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise ReportRejectedError(f"malformed queued report: {exc}") from exc
    if isinstance(envelope, QueuedLatency):
        validate_report(envelope.report, now_ms=now_ms)
        return envelope.report
    check_report_id(envelope.report.report_id)
    try:
        discovery_bounds(envelope.report.spec)
    except InvalidSpecError as exc:
        raise ReportRejectedError(f"discovery spec: {exc}") from exc
    return envelope


def sweep_of(queued: QueuedDiscovery) -> DiscoverySweep:
    """The catalogue's view of a discovery report (its range as first and last address)."""
    report = queued.report
    first, last = discovery_bounds(report.spec)
    return DiscoverySweep(
        report_id=report.report_id,
        start=str(first),
        end=str(last),
        found=tuple(report.found),
        at_ms=report.finished_at_ms or report.started_at_ms,
    )


class BatchResult(msgspec.Struct, kw_only=True):
    """What one batch of queued reports came to, message by message.

    ``ingested``, ``duplicates`` and ``conflicts`` hold report ids; ``failed`` maps the id of
    every message that must come back (and in the end dead-letter) to the reason. A conflict
    (a report id stored before with other content) is failed too: it is never stored.
    """

    received: int = 0
    ingested: list[str] = msgspec.field(default_factory=list)
    duplicates: list[str] = msgspec.field(default_factory=list)
    conflicts: list[str] = msgspec.field(default_factory=list)
    failed: dict[str, str] = msgspec.field(default_factory=dict)  # message_id -> reason

    @property
    def failed_message_ids(self) -> list[str]:
        return list(self.failed)

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response an SQS-triggered Lambda returns."""
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.failed]}


class _SqsAttribute(msgspec.Struct):
    stringValue: str | None = None  # Lambda's event field names


class _SqsRecord(msgspec.Struct):
    """The fields of a Lambda SQS event record that ingest reads (others are ignored)."""

    messageId: str
    body: str
    messageAttributes: dict[str, _SqsAttribute] = msgspec.field(default_factory=dict)


def sqs_record_bodies(
    records: Sequence[Mapping[str, Any]],
) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """``([(message_id, body)], {message_id: reason})``: the records' bodies decoded by the
    SQS adapter's rule (:mod:`cloudperf_core.bodies`), and the records that did not decode.

    A record without a ``messageId`` is not an SQS record at all: InvalidSpecError.
    """
    failed: dict[str, str] = {}
    messages: list[tuple[str, bytes]] = []
    for raw in records:
        try:
            record = msgspec.convert(raw, _SqsRecord)
        except msgspec.ValidationError as exc:
            message_id = raw.get("messageId") if isinstance(raw, Mapping) else None
            if not isinstance(message_id, str):
                raise InvalidSpecError(f"not an SQS event record (no messageId): {exc}") from exc
            failed[message_id] = f"malformed SQS record: {exc}"
            continue
        attribute = record.messageAttributes.get(ENCODING_ATTRIBUTE)
        try:
            body = body_from_text(record.body, attribute.stringValue if attribute else None)
        except MessageDecodeError as exc:
            log.warning("rejecting record %s: %s", record.messageId, exc)
            failed[record.messageId] = str(exc)
            continue
        messages.append((record.messageId, body))
    return messages, failed


def report_windows(
    reports: Sequence[MeasurementReport],
    window_s: int,
    digests: Sequence[bytes] | None = None,
) -> list[ReportWindows]:
    """Each report's window rows, with its content digest (``digests``: computed already,
    one per report, in order)."""
    out = aggregate.windows_for_reports(reports, window_s)
    known = digests if digests is not None else [report_digest(r) for r in reports]
    for rw, digest in zip(out, known, strict=True):
        rw.digest = digest
    return out


async def ingest_bodies(
    store: MeasurementStore,
    messages: Sequence[tuple[str, bytes]],
    *,
    window_s: int,
    now_ms: int,
    tag: Tagger | None = None,
    record_sweep: SweepRecorder | None = None,
) -> BatchResult:
    """Decode, validate and ingest ``(message_id, body)`` pairs; see the module docstring.

    Latency reports go to the store first (one transaction), then each discovery sweep to
    ``record_sweep`` (without one, a discovery message fails). BackendUnavailableError
    escapes (the caller fails the whole batch).
    """
    result = BatchResult(received=len(messages))
    # The first message of each report id goes to the store; later copies in the batch are
    # settled against it by digest.
    firsts: dict[str, tuple[MeasurementReport, bytes]] = {}  # report id -> (report, digest)
    order: list[tuple[str, str, bytes]] = []  # (message_id, report_id, digest)
    sweeps: list[tuple[str, QueuedDiscovery]] = []
    for message_id, body in messages:
        try:
            report = decode_queued(body, now_ms=now_ms)
        except ReportRejectedError as exc:
            log.warning("rejecting message %s: %s", message_id, exc.reason)
            result.failed[message_id] = exc.reason
            continue
        if isinstance(report, QueuedDiscovery):
            sweeps.append((message_id, report))
            continue
        digest = report_digest(report)  # once per message: hashing a report is not free
        firsts.setdefault(report.report_id, (report, digest))
        order.append((message_id, report.report_id, digest))
    batch = report_windows(
        [r for r, _ in firsts.values()], window_s, [d for _, d in firsts.values()]
    )
    if tag is not None and batch:
        await tag(batch)
    first_digest = {rw.report_id: rw.digest for rw in batch}
    outcome, failed_ids = await _ingest_isolating(store, batch)
    status = {rid: "ingested" for rid in outcome.ingested}
    status |= {rid: "duplicate" for rid in outcome.duplicates}
    status |= {rid: "conflict" for rid in outcome.conflicts}
    stored_now: set[str] = set()
    for message_id, rid, digest in order:
        if rid in failed_ids:
            result.failed[message_id] = failed_ids[rid]
            continue
        state = "conflict" if digest != first_digest[rid] else status[rid]
        if state == "ingested" and rid in stored_now:
            state = "duplicate"  # a second copy of a report stored by this batch
        if state == "ingested":
            stored_now.add(rid)
            result.ingested.append(rid)
        elif state == "duplicate":
            result.duplicates.append(rid)
        else:
            result.conflicts.append(rid)
            result.failed[message_id] = (
                f"report id {rid!r} was ingested before with different content; not stored"
            )
    for message_id, queued in sweeps:
        await _record(queued, message_id, record_sweep, result)
    return result


async def _record(
    queued: QueuedDiscovery, message_id: str, record: SweepRecorder | None, result: BatchResult
) -> None:
    rid = queued.report.report_id
    if record is None:
        result.failed[message_id] = f"discovery report {rid}: this worker has no catalogue"
        return
    try:
        new = await record(sweep_of(queued))
    except BackendUnavailableError:
        raise
    except CloudperfError as exc:
        log.warning("discovery report %s fails alone: %s", rid, exc)
        result.failed[message_id] = str(exc)
        return
    (result.ingested if new else result.duplicates).append(rid)


async def _ingest_isolating(
    store: MeasurementStore, batch: Sequence[ReportWindows]
) -> tuple[IngestOutcome, dict[str, str]]:
    """Ingest ``batch`` in one transaction; if that fails for a reason other than a transient
    one, ingest each half on its own, down to single reports. Returns the merged outcome and
    ``{report_id: reason}`` of the reports that failed alone."""
    if not batch:
        return IngestOutcome(), {}
    try:
        return await store.ingest(batch), {}
    except BackendUnavailableError:
        raise
    except CloudperfError as exc:
        if len(batch) == 1:
            log.warning("report %s fails alone: %s", batch[0].report_id, exc)
            return IngestOutcome(), {batch[0].report_id: str(exc)}
        log.warning("ingest of %d reports failed (%s); isolating the cause", len(batch), exc)
    mid = len(batch) // 2
    first, first_failed = await _ingest_isolating(store, batch[:mid])
    second, second_failed = await _ingest_isolating(store, batch[mid:])
    merged = IngestOutcome(
        ingested=first.ingested + second.ingested,
        duplicates=first.duplicates + second.duplicates,
        conflicts=first.conflicts + second.conflicts,
    )
    return merged, first_failed | second_failed
