"""Use-cases: measure, ingest reports (directly, from the report queue, or as SQS records pushed
to a Lambda), query merged stats by place, retag windows after a catalogue import.

They await ports only (store, catalogue, queue, runner, clock) and hold no state of their own,
so the CLI, the Lambda entrypoints and tests wire them to whichever adapters they like.
Reports are encoded, decoded and validated in :mod:`cloudperf_core.reports`, batches of queued
reports settled message by message in :mod:`cloudperf_core.batches` (both re-exported here).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from cloudperf_core.batches import (
    BatchResult,
    Tagger,
    ingest_bodies,
    report_windows,
    sqs_record_bodies,
)
from cloudperf_core.catalog import MAX_PAGE, LocationFilter, Probe
from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import BackendUnavailableError, InvalidSpecError
from cloudperf_core.models import (
    GroupBy,
    Grouping,
    GroupStats,
    IngestOutcome,
    MeasurementReport,
    PlaceQuery,
    ProbeSpec,
    ReportWindows,
    StatsQuery,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.ports import Catalog, Clock, MeasurementStore, Places, ReportQueue
from cloudperf_core.reports import (
    MAX_REPORT_ID_LEN,
    decode_report,
    encode_report,
    new_report_id,
    split_report,
    validate_report,
)
from cloudperf_core.windows import group

__all__ = [
    "DEFAULT_WINDOW_S",
    "MAX_REPORT_ID_LEN",
    "BatchResult",
    "Runner",
    "all_probes",
    "decode_report",
    "encode_report",
    "ingest_reports",
    "ingest_sqs_records",
    "measure",
    "new_report_id",
    "process_report_batch",
    "query_stats",
    "retag",
    "split_report",
    "tag_windows",
    "validate_report",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60


class Runner(Protocol):
    """What ``measure`` needs from :class:`cloudperf_core.fping.runner.FpingRunner`."""

    async def measure(
        self, spec: ProbeSpec, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[TargetResult]: ...


# --- use-cases ----------------------------------------------------------------------------


async def measure(
    runner: Runner,
    spec: ProbeSpec,
    *,
    source: str,
    clock: Clock,
    on_progress: Callable[[int, int], None] | None = None,
    job_id: str | None = None,
) -> MeasurementReport:
    """Run one measurement and wrap it in a report with a fresh id."""
    started_at_ms = clock.now_ms()
    results = await runner.measure(spec, on_progress=on_progress)
    return MeasurementReport(
        report_id=new_report_id(),
        source=source,
        started_at_ms=started_at_ms,
        finished_at_ms=clock.now_ms(),
        spec=spec,
        results=results,
        job_id=job_id,
    )


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
    catalog: Places | None = None,
    clock: Clock | None = None,
) -> BatchResult:
    """Take one batch off the report queue (``cloudperf serve``'s worker pulls), ingest it,
    ack what is stored (or was before), release the rest.

    A message that does not decode, validate or store on its own is released, so the queue's
    redrive policy moves it to the dead-letter queue; nothing is acknowledged before it is
    stored, so a crash anywhere here means redelivery, which the report-id check makes
    harmless. A transient store failure releases every message and re-raises.
    """
    messages = await queue.receive(max_messages, visibility_s)
    try:
        result = await ingest_bodies(
            store,
            [(m.message_id, m.body) for m in messages],
            window_s=window_s,
            now_ms=(clock or SystemClock()).now_ms(),
            tag=_tagger(catalog),
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
    catalog: Places | None = None,
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


async def query_stats(
    store: MeasurementStore,
    query: PlaceQuery | StatsQuery,
    group_by: GroupBy | Grouping = "pair",
    *,
    catalog: Catalog | None = None,
) -> list[GroupStats]:
    """Merged stats per group of the windows the query selects (sketches merged, never
    averaged): the one entry for every question "how fast from here to there".

    Place filters (probe locations, locations, cities, ASNs, countries, groups) and place
    groupings need the ``catalog``; without one they raise InvalidSpecError. Groupings:
    :data:`cloudperf_core.windows.group.GROUPINGS` or any :class:`Grouping`.
    """
    grouping = group.grouping_for(group_by)
    if group.needs_places(grouping) and catalog is None:
        raise InvalidSpecError(f"grouping by {grouping.source} x {grouping.dest} needs a catalogue")
    store_query = query if isinstance(query, StatsQuery) else await _store_query(query, catalog)
    windows = await store.fetch_windows(store_query)
    places = None if catalog is None else await _place_index(catalog, windows, grouping)
    return group.group_windows(windows, grouping, places)


async def _store_query(query: PlaceQuery, catalog: Catalog | None) -> StatsQuery:
    """The store-level filter of a place query: probe ids and destination location ids."""
    where = LocationFilter(
        names=query.locations,
        countries=query.countries,
        cities=query.cities,
        asns=query.asns,
        groups=query.groups,
    )
    if catalog is None:
        if query.probe_locations is not None or not where.is_everything():
            raise InvalidSpecError("filtering by place needs a catalogue")
        return StatsQuery(
            sources=query.probes,
            targets=query.targets,
            since_s=query.since_s,
            until_s=query.until_s,
        )
    sources = query.probes
    if query.probe_locations is not None:
        wanted = set(query.probe_locations)
        there = [p.probe_id for p in await all_probes(catalog) if p.location in wanted]
        sources = tuple(there) if sources is None else tuple(sorted(set(sources) & set(there)))
    dest_ids: tuple[int, ...] | None = None
    if not where.is_everything():
        found = await catalog.find_locations(where)
        dest_ids = tuple(loc.location_id for loc in found if loc.location_id is not None)
    return StatsQuery(
        sources=sources,
        targets=query.targets,
        dest_location_ids=dest_ids,
        since_s=query.since_s,
        until_s=query.until_s,
    )


async def _place_index(
    catalog: Catalog, windows: Sequence[WindowAggregate], grouping: Grouping
) -> group.PlaceIndex:
    ids = {w.dest_location_id for w in windows if w.dest_location_id is not None}
    located = grouping.dest in ("location", "city", "asn", "country", "group")
    locations = await catalog.locations_by_id(ids) if located and ids else {}
    probes = {p.probe_id: p for p in await all_probes(catalog)} if grouping.source != "none" else {}
    groups_of = (
        group.groups_by_location((g.name, g.locations) for g in await catalog.list_groups())
        if grouping.dest == "group"
        else {}
    )
    return group.PlaceIndex(locations=locations, probes=probes, groups_of=groups_of)


async def all_probes(catalog: Catalog) -> list[Probe]:
    """Every probe, page by page."""
    out: list[Probe] = []
    while True:
        page = await catalog.list_probes(after=out[-1].probe_id if out else None, limit=MAX_PAGE)
        out.extend(page)
        if len(page) < MAX_PAGE:
            return out
