"""Use-cases: measure, ingest reports, drain the report queue, query merged stats by place,
retag windows after a catalogue import.

They await ports only (store, catalogue, queue, runner, clock) and hold no state of their own,
so the CLI, the Lambda entrypoints and tests wire them to whichever adapters they like.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from cloudperf_core.catalog import MAX_PAGE, LocationFilter, Probe
from cloudperf_core.errors import (
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
    ReportRejectedError,
)
from cloudperf_core.limits import MAX_RTT_US
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
from cloudperf_core.windows import aggregate, group

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60
MAX_REPORT_ID_LEN = 128
# Report ids travel in URLs, logs and SQL keys: keep them to a boring charset.
_REPORT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
# A sane upper bound for one RTT (the longest timeout): anything above is a corrupted report.
_MAX_RTT_US = MAX_RTT_US

_report_decoder = msgspec.json.Decoder(MeasurementReport)
_report_encoder = msgspec.json.Encoder()


class Runner(Protocol):
    """What ``measure`` needs from :class:`cloudperf_core.fping.runner.FpingRunner`."""

    async def measure(
        self, spec: ProbeSpec, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[TargetResult]: ...


class BatchResult(msgspec.Struct, kw_only=True):
    """What one pass over the report queue did, message by message."""

    received: int = 0
    ingested: list[str] = msgspec.field(default_factory=list)
    duplicates: list[str] = msgspec.field(default_factory=list)
    failed: dict[str, str] = msgspec.field(default_factory=dict)  # message_id -> reason


# --- reports ------------------------------------------------------------------------------


def new_report_id() -> str:
    return uuid.uuid4().hex


def encode_report(report: MeasurementReport) -> bytes:
    return _report_encoder.encode(report)


def decode_report(body: bytes | str) -> MeasurementReport:
    """Decode and validate one report; any problem is a ReportRejectedError with the reason."""
    try:
        report = _report_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ReportRejectedError(f"malformed report: {exc}") from exc
    validate_report(report)
    return report


def validate_report(report: MeasurementReport) -> None:
    """Reject reports whose numbers cannot be true; the reason is safe to send back (4xx)."""
    rid = report.report_id
    if not rid or len(rid) > MAX_REPORT_ID_LEN or not _REPORT_ID_RE.match(rid):
        raise ReportRejectedError(
            f"report_id must be 1..{MAX_REPORT_ID_LEN} characters of [A-Za-z0-9._:-]"
        )
    if not report.source or len(report.source) > 255:
        raise ReportRejectedError("source must be a non-empty name of at most 255 characters")
    if report.started_at_ms < 0:
        raise ReportRejectedError("started_at_ms must not be negative")
    for result in report.results:
        _validate_result(result)


def _validate_result(r: TargetResult) -> None:
    where = f"target {r.target!r}"
    if not r.target or len(r.target) > 255:
        raise ReportRejectedError("target must be a non-empty name of at most 255 characters")
    if r.duplicates < 0:
        raise ReportRejectedError(f"{where}: duplicates must not be negative")
    if r.sent is None:
        if r.received is not None or r.rtts_us:
            raise ReportRejectedError(f"{where}: received or rtts without sent")
        return
    if r.sent < 0 or r.received is None or r.received < 0:
        raise ReportRejectedError(f"{where}: sent and received must be non-negative counts")
    if r.received > r.sent:
        raise ReportRejectedError(
            f"{where}: received {r.received} > sent {r.sent} (duplicates are not receptions)"
        )
    if r.rtts_us is not None:
        if len(r.rtts_us) != r.sent:
            raise ReportRejectedError(f"{where}: {len(r.rtts_us)} rtts for {r.sent} probes sent")
        got = [v for v in r.rtts_us if v is not None]
        if len(got) != r.received:
            raise ReportRejectedError(
                f"{where}: {len(got)} rtts present but received is {r.received}"
            )
        if got and (min(got) < 0 or max(got) > _MAX_RTT_US):
            raise ReportRejectedError(f"{where}: rtt out of range 0..{_MAX_RTT_US} us")


def split_report(report: MeasurementReport, max_bytes: int) -> list[MeasurementReport]:
    """Split a report by targets so each encoded part fits ``max_bytes``.

    Part ids derive from the report id and the split, so re-sending the same report yields
    the same parts and ingest stays idempotent. A single target too large to fit is refused.
    """
    if len(encode_report(report)) <= max_bytes:
        return [report]
    parts = 2
    n = len(report.results)
    while parts <= n:
        size = -(-n // parts)
        chunks = [report.results[i : i + size] for i in range(0, n, size)]
        out = [
            msgspec.structs.replace(
                report, report_id=f"{report.report_id}.{i + 1}of{len(chunks)}", results=chunk
            )
            for i, chunk in enumerate(chunks)
        ]
        if all(len(encode_report(p)) <= max_bytes for p in out):
            return out
        parts *= 2
    raise ReportRejectedError(
        f"report {report.report_id}: one target's results exceed {max_bytes} bytes"
    )


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
) -> IngestOutcome:
    """Validate reports and write their window aggregates, idempotently by report id.

    With a ``catalog``, each window is tagged with its target's location (one batched
    ``locate_many``), so queries can group it by place at once.
    """
    for report in reports:
        validate_report(report)
    batch = aggregate.windows_for_reports(reports, window_s)
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
) -> BatchResult:
    """Take one batch off the report queue, ingest it, ack what is stored, release the rest.

    A message that does not decode or validate is released so the queue's redrive policy
    moves it to the dead-letter queue; nothing is acknowledged before it is stored, so a crash
    anywhere here means redelivery, which the store's report-id check makes harmless.
    """
    messages = await queue.receive(max_messages, visibility_s)
    result = BatchResult(received=len(messages))
    good: list[tuple[str, MeasurementReport]] = []
    bad: list[str] = []
    for msg in messages:
        try:
            good.append((msg.receipt, decode_report(msg.body)))
        except ReportRejectedError as exc:
            log.warning("rejecting message %s: %s", msg.message_id, exc.reason)
            result.failed[msg.message_id] = exc.reason
            bad.append(msg.receipt)
    if good:
        try:
            outcome = await ingest_reports(
                store, [r for _, r in good], window_s=window_s, catalog=catalog
            )
        except CloudperfError as exc:
            # Leave them for redelivery; the store wrote all or nothing.
            log.warning("ingest of %d reports failed: %s", len(good), exc)
            await queue.release([receipt for receipt, _ in good])
            for msg in messages:
                result.failed.setdefault(msg.message_id, str(exc))
            if bad:
                await queue.release(bad)
            if isinstance(exc, BackendUnavailableError):
                raise
            return result
        result.ingested = outcome.ingested
        result.duplicates = outcome.duplicates
        await queue.ack([receipt for receipt, _ in good])
    if bad:
        await queue.release(bad)
    return result


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
