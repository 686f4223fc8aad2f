"""Batches of queued reports: decode, validate, ingest, and settle each message.

The one rule behind both ways a worker gets reports (``service.process_report_batch`` pulls
them from the report queue; ``service.ingest_sqs_records`` is given the SQS records Lambda
pushes): every report that decodes and validates is ingested in one store transaction; if
that transaction fails for a reason a retry will not fix (a corrupt stored row, a window
pushed past the store limits), the batch is split in halves and each half ingested on its
own, down to single reports, so only the reports that fail alone fail. A transient store
failure (``BackendUnavailableError``) escapes, and the caller fails the whole batch for the
queue to deliver again (harmless: ingest is idempotent by report id).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

from cloudperf_core.bodies import ENCODING_ATTRIBUTE, body_from_text
from cloudperf_core.errors import (
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
    MessageDecodeError,
    ReportRejectedError,
)
from cloudperf_core.models import IngestOutcome, MeasurementReport, ReportWindows
from cloudperf_core.ports import MeasurementStore
from cloudperf_core.reports import decode_report, report_digest
from cloudperf_core.windows import aggregate

__all__ = ["BatchResult", "Tagger", "ingest_bodies", "report_windows", "sqs_record_bodies"]

log = logging.getLogger(__name__)

#: Sets ``dest_location_id`` on a batch's windows before they are stored (the catalogue).
Tagger = Callable[[Sequence[ReportWindows]], Awaitable[None]]


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


def report_windows(reports: Sequence[MeasurementReport], window_s: int) -> list[ReportWindows]:
    """Each report's window rows, with its content digest."""
    out = aggregate.windows_for_reports(reports, window_s)
    for rw, report in zip(out, reports, strict=True):
        rw.digest = report_digest(report)
    return out


async def ingest_bodies(
    store: MeasurementStore,
    messages: Sequence[tuple[str, bytes]],
    *,
    window_s: int,
    now_ms: int,
    tag: Tagger | None = None,
) -> BatchResult:
    """Decode, validate and ingest ``(message_id, body)`` pairs; see the module docstring.

    BackendUnavailableError escapes (the caller fails the whole batch).
    """
    result = BatchResult(received=len(messages))
    # The first message of each report id goes to the store; later copies in the batch are
    # settled against it by digest.
    firsts: dict[str, MeasurementReport] = {}
    order: list[tuple[str, str, bytes]] = []  # (message_id, report_id, digest)
    for message_id, body in messages:
        try:
            report = decode_report(body, now_ms=now_ms)
        except ReportRejectedError as exc:
            log.warning("rejecting message %s: %s", message_id, exc.reason)
            result.failed[message_id] = exc.reason
            continue
        firsts.setdefault(report.report_id, report)
        order.append((message_id, report.report_id, report_digest(report)))
    batch = report_windows(list(firsts.values()), window_s)
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
    return result


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
