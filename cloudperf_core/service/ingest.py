"""Ingest reports: directly, from the report queue (pull), or as SQS records pushed to a
Lambda; tag windows with the destination's location; retag after a catalogue import.

Batches of queued reports are settled message by message in
:mod:`cloudperf_core.service.batches`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import (
    IngestOutcome,
    MeasurementReport,
    ReportWindows,
)
from cloudperf_core.ports import Clock, MeasurementStore, Places, ReportQueue
from cloudperf_core.reports import (
    validate_report,
)
from cloudperf_core.service.batches import (
    BatchResult,
    SweepRecorder,
    Tagger,
    WorkerCatalog,
    ingest_bodies,
    report_windows,
    sqs_record_bodies,
)

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60


async def ingest_reports(
    store: MeasurementStore,
    reports: Sequence[MeasurementReport],
    *,
    window_s: int = DEFAULT_WINDOW_S,
    catalog: Places | None = None,
    clock: Clock | None = None,
) -> IngestOutcome:
    """Validate every report, then write their window aggregates, idempotently by report id.

    All or nothing: the first invalid report raises ReportRejectedError before anything is
    written. A report id stored before with other content comes back in ``conflicts``. With a
    ``catalog``, each window is tagged with its target's location (one batched
    ``locate_many``), so queries can group it by place at once.
    """
    now_ms = (clock or SystemClock()).now_ms()
    for report in reports:
        validate_report(report, now_ms=now_ms)
    batch = report_windows(reports, window_s)
    if catalog is not None:
        await tag_windows(catalog, batch)
    return await store.ingest(batch)


async def tag_windows(catalog: Places, batch: Sequence[ReportWindows]) -> None:
    """Set ``dest_location_id`` on every window whose target the catalogue can locate."""
    targets = list(dict.fromkeys(w.target for report in batch for w in report.windows))
    if not targets:
        return
    found = await catalog.locate_many(targets)
    for report in batch:
        for window in report.windows:
            location = found.get(window.target)
            if location is not None:
                window.dest_location_id = location.location_id


async def retag(store: MeasurementStore, catalog: Places, *, batch_size: int = 1000) -> int:
    """Tag the windows stored before their targets were in the catalogue (run it after an
    import of ranges); returns how many window rows were tagged."""
    tagged = 0
    after: str | None = None
    while True:
        targets = await store.untagged_targets(after=after, limit=batch_size)
        if not targets:
            return tagged
        found = await catalog.locate_many(targets)
        ids = {t: loc.location_id for t, loc in found.items() if loc.location_id is not None}
        if ids:
            tagged += await store.tag_targets(ids)
        if len(targets) < batch_size:
            return tagged
        after = targets[-1]


async def process_report_batch(
    queue: ReportQueue,
    store: MeasurementStore,
    *,
    max_messages: int = 10,
    visibility_s: float = 30,
    window_s: int = DEFAULT_WINDOW_S,
    catalog: WorkerCatalog | None = None,
    clock: Clock | None = None,
) -> BatchResult:
    """Take one batch off the report queue (``cloudperf serve``'s worker pulls), ingest it,
    ack what is stored (or was before), release the rest.

    A message that does not decode, validate or store on its own is released, so the queue's
    redrive policy moves it to the dead-letter queue; nothing is acknowledged before it is
    stored, so a crash anywhere here means redelivery, which the report-id check makes
    harmless. A transient store failure releases every message and re-raises. Messages are
    latency reports (enveloped or bare) and discovery reports, which need ``catalog``.
    """
    messages = await queue.receive(max_messages, visibility_s)
    try:
        result = await ingest_bodies(
            store,
            [(m.message_id, m.body) for m in messages],
            window_s=window_s,
            now_ms=(clock or SystemClock()).now_ms(),
            tag=_tagger(catalog),
            record_sweep=_recorder(catalog),
        )
    except BackendUnavailableError:
        await queue.release([m.receipt for m in messages])
        raise
    failed = [m.receipt for m in messages if m.message_id in result.failed]
    stored = [m.receipt for m in messages if m.message_id not in result.failed]
    if stored:
        await queue.ack(stored)
    if failed:
        await queue.release(failed)
    return result


async def ingest_sqs_records(
    store: MeasurementStore,
    records: Sequence[Mapping[str, Any]],
    *,
    window_s: int = DEFAULT_WINDOW_S,
    catalog: WorkerCatalog | None = None,
    clock: Clock | None = None,
) -> BatchResult:
    """Ingest the SQS records a Lambda was triggered with (``event["Records"]``).

    Bodies are decoded with the SQS adapter's rule (:mod:`cloudperf_core.bodies`: base64 when
    the ``cloudperf-encoding`` attribute says so). Every record that decodes and validates is
    ingested in one store transaction; ``failed_message_ids`` (``batch_item_failures()``)
    names the records Lambda must deliver again: those that did not decode, validate or store
    on their own, or every record when the store failed transiently.
    """
    messages, failed = sqs_record_bodies(records)
    try:
        result = await ingest_bodies(
            store,
            messages,
            window_s=window_s,
            now_ms=(clock or SystemClock()).now_ms(),
            tag=_tagger(catalog),
            record_sweep=_recorder(catalog),
        )
    except BackendUnavailableError as exc:
        log.warning("store unavailable, failing all %d records: %s", len(records), exc)
        ids = [m for m, _ in messages] + list(failed)
        return BatchResult(received=len(records), failed=dict.fromkeys(ids, str(exc)))
    result.received = len(records)
    result.failed.update(failed)
    return result


def _tagger(catalog: Places | None) -> Tagger | None:
    return None if catalog is None else functools.partial(tag_windows, catalog)


def _recorder(catalog: WorkerCatalog | None) -> SweepRecorder | None:
    return None if catalog is None else catalog.record_sweep
