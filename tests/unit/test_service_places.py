"""Place-aware use-cases with the in-memory fakes: tagging at ingest, retag, query checks."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryCatalog, InMemoryMeasurementStore, InMemoryReportQueue
from cloudperf_core import service
from cloudperf_core.catalog import AddressRange, Location, Probe
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    Grouping,
    MeasurementReport,
    PlaceQuery,
    ProbeSpec,
    StatsQuery,
    TargetResult,
)

TARGETS = ("192.0.2.1", "192.0.2.2")  # documentation addresses; only .1 is in a range


def make_report(report_id: str, *, source: str = "lab") -> MeasurementReport:
    results = [
        TargetResult(target=t, sent=4, received=3, rtts_us=[1000, None, 1200, 1100])
        for t in TARGETS
    ]
    return MeasurementReport(
        report_id=report_id, source=source, started_at_ms=1_700_000_000_000,
        spec=ProbeSpec(targets=TARGETS, count=4), results=results,
    )  # fmt: skip


async def catalogue() -> InMemoryCatalog:
    catalog = InMemoryCatalog()
    await catalog.put_locations([Location(name="lab-net", country_code="NL", asn=64500)])
    await catalog.put_ranges([AddressRange(start="192.0.2.0", end="192.0.2.1", location="lab-net")])
    await catalog.put_probe(Probe(probe_id="lab", token_hash="h", location="lab-net"))
    return catalog


async def test_the_queue_worker_tags_windows_it_can_locate() -> None:
    catalog, store, queue = await catalogue(), InMemoryMeasurementStore(), InMemoryReportQueue()
    await queue.send([service.encode_report(make_report("r1"))])
    result = await service.process_report_batch(queue, store, catalog=catalog)
    assert result.ingested == ["r1"]
    tags = {w.target: w.dest_location_id for w in await store.fetch_windows(StatsQuery())}
    lab_net = await catalog.get_location("lab-net")
    assert lab_net is not None and tags == {"192.0.2.1": lab_net.location_id, "192.0.2.2": None}
    [nl] = await service.query_stats(
        store, PlaceQuery(countries=("nl",)), "country", catalog=catalog
    )
    assert (nl.dest, nl.stats.sent, nl.windows) == ("NL", 4, 1)


async def test_retag_pages_through_untagged_targets() -> None:
    store = InMemoryMeasurementStore()
    await service.ingest_reports(store, [make_report("r1")])
    catalog = await catalogue()
    # One target per page: the unlocatable 192.0.2.2 must not stop the walk or loop forever.
    assert await service.retag(store, catalog, batch_size=1) == 1
    assert await store.untagged_targets() == ["192.0.2.2"]


@pytest.mark.parametrize(
    ("query", "group_by"),
    [
        (PlaceQuery(), "country"),
        (PlaceQuery(), Grouping(source="probe_location", dest="none")),
        (PlaceQuery(countries=("NL",)), "pair"),
        (PlaceQuery(probe_locations=("lab-net",)), "overall"),
    ],
)
async def test_places_without_a_catalogue_are_refused(query: PlaceQuery, group_by: object) -> None:
    store = InMemoryMeasurementStore()
    with pytest.raises(InvalidSpecError, match="catalogue"):
        await service.query_stats(store, query, group_by)  # type: ignore[arg-type]


async def test_probe_filters_intersect() -> None:
    catalog, store = await catalogue(), InMemoryMeasurementStore()
    reports = [make_report("a", source="lab"), make_report("b", source="other")]
    await service.ingest_reports(store, reports, catalog=catalog)

    async def sources(query: PlaceQuery) -> list[str | None]:
        return [
            g.source for g in await service.query_stats(store, query, "source", catalog=catalog)
        ]

    assert await sources(PlaceQuery()) == ["lab", "other"]
    assert await sources(PlaceQuery(probe_locations=("lab-net",))) == ["lab"]
    assert await sources(PlaceQuery(probes=("other",), probe_locations=("lab-net",))) == []
