"""Queries by place: every backend's store + catalogue pair gives the same answers.

Reports from three sources to IPv4 and IPv6 targets (documentation ranges; nothing is sent)
are ingested in two rounds: the first before the catalogue knows any range (so its windows
are untagged until ``service.retag``), the second after the import (tagged at ingest). Each
backend's answer for every grouping must equal the reference computed here from the same
reports, and a few numbers are checked by hand against the raw samples.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import numpy as np
import pytest

from adapters.memory import FakeClock
from cloudperf_core import service
from cloudperf_core.catalog import AddressRange, Group, Location, Probe
from cloudperf_core.models import (
    GroupBy,
    Grouping,
    MeasurementReport,
    PlaceQuery,
    ProbeSpec,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.windows.aggregate import merge_into, windows_for_reports
from cloudperf_core.windows.group import PlaceIndex, group_windows, grouping_for

SYD = Location(name="AS64500 Sydney", country_code="AU", country_name="Australia",
               city="Sydney", asn=64500, asn_name="Example Transit")  # fmt: skip
MEL = Location(name="AS64501 Melbourne", country_code="AU", city="Melbourne", asn=64501)
NYC = Location(name="AS64500 New York", country_code="US", city="New York", asn=64500,
               asn_name="Example Transit")  # fmt: skip
FRA = Location(name="AS64510 Frankfurt", country_code="DE", country_name="Germany",
               city="Frankfurt", asn=64510)  # fmt: skip
LOCATIONS = [SYD, MEL, NYC, FRA]
RANGES = [
    AddressRange(start="192.0.2.0", end="192.0.2.127", location=SYD.name),
    AddressRange(start="2001:db8::", end="2001:db8::ffff", location=SYD.name),
    AddressRange(start="192.0.2.128", end="192.0.2.255", location=MEL.name),
    AddressRange(start="198.51.100.0", end="198.51.100.255", location=NYC.name),
    AddressRange(start="203.0.113.0", end="203.0.113.255", location=FRA.name),
]
GROUPS = [
    Group(name="apac", locations=(SYD.name, MEL.name)),
    Group(name="transit", locations=(SYD.name, NYC.name)),  # Sydney is in both
]
PROBES = [
    Probe(probe_id="p-fra", token_hash="h1", name="Frankfurt", location=FRA.name),
    Probe(probe_id="p-nyc", token_hash="h2", location=NYC.name),
]
SOURCES = ("p-fra", "p-nyc", "lab")  # "lab" is no probe of the catalogue
TARGETS = {  # target -> location (None: no range holds it, or not an address)
    "192.0.2.10": SYD,
    "2001:db8::5": SYD,
    "192.0.2.200": MEL,
    "198.51.100.7": NYC,
    "203.0.113.9": FRA,
    "2001:db8:ffff::1": None,
    "example.net": None,
}
NAMED: tuple[GroupBy, ...] = (
    "pair", "source", "target", "location", "city", "asn", "country", "group", "overall",
)  # fmt: skip
MATRIX = Grouping(source="probe_location", dest="country")


def make_reports(clock: FakeClock, round_no: int) -> list[MeasurementReport]:
    rng = random.Random(round_no)
    out = []
    for source in SOURCES:
        results = []
        for target in TARGETS:
            base = {"p-fra": 20_000, "p-nyc": 90_000, "lab": 150_000}[source]
            rtts = [
                None if rng.random() < 0.1 else int(base * rng.uniform(0.8, 1.6)) for _ in range(12)
            ]
            got = sum(v is not None for v in rtts)
            results.append(TargetResult(target=target, sent=12, received=got, rtts_us=rtts))
        out.append(
            MeasurementReport(
                report_id=f"{source}-{round_no}",
                source=source,
                started_at_ms=clock.now_ms(),
                spec=ProbeSpec(targets=tuple(TARGETS), count=12),
                results=results,
            )
        )
    return out


async def import_catalogue(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    await catalog.put_ranges(RANGES)
    for group in GROUPS:
        await catalog.set_group(group)
    for probe in PROBES:
        await catalog.put_probe(probe)


@pytest.fixture
async def seeded(store_and_catalog: Any) -> Any:
    """Round 0 before the import (then retagged), round 1 after it; returns the reports."""
    store, catalog = store_and_catalog
    clock = FakeClock(start_ms=1_700_000_040_000)
    early = make_reports(clock, 0)
    await service.ingest_reports(store, early, catalog=catalog)  # nothing known yet
    await import_catalogue(catalog)
    tagged = await service.retag(store, catalog)
    assert tagged == len(SOURCES) * 5  # every located target's window of round 0
    clock.advance(60)
    late = make_reports(clock, 1)
    await service.ingest_reports(store, late, catalog=catalog)
    return store, catalog, early + late


def reference(reports: list[MeasurementReport], grouping: Grouping) -> list[Any]:
    """The expected answer, from the reports and this module's own catalogue tables."""
    ids = {loc.name: i for i, loc in enumerate(LOCATIONS, start=1)}
    merged: dict[Any, WindowAggregate] = {}
    for batch in (reports[: len(SOURCES)], reports[len(SOURCES) :]):
        for rw in windows_for_reports(batch):
            merge_into(merged, rw.windows)
    dest_ids = {t: None if loc is None else ids[loc.name] for t, loc in TARGETS.items()}
    rows = sorted(
        (msgspec.structs.replace(w, dest_location_id=dest_ids[w.target]) for w in merged.values()),
        key=lambda w: (w.source, w.target, w.window_start_s, w.window_s),
    )
    index = PlaceIndex(
        locations={ids[loc.name]: loc for loc in LOCATIONS},
        probes={p.probe_id: p for p in PROBES},
        groups_of={SYD.name: ("apac", "transit"), MEL.name: ("apac",), NYC.name: ("transit",)},
    )
    expected: list[Any] = msgspec.to_builtins(group_windows(rows, grouping, index))
    return expected


async def test_every_grouping_gives_the_reference_answer(seeded: Any) -> None:
    store, catalog, reports = seeded
    for group_by in (*NAMED, MATRIX):
        got = await service.query_stats(store, PlaceQuery(), group_by, catalog=catalog)
        assert msgspec.to_builtins(got) == reference(reports, grouping_for(group_by)), group_by


async def test_numbers_by_place_match_the_raw_samples(seeded: Any) -> None:
    store, catalog, reports = seeded

    def samples(sources: set[str], locations: set[str]) -> tuple[int, list[int]]:
        sent, rtts = 0, []
        for r in reports:
            for t in r.results:
                loc = TARGETS[t.target]
                if r.source in sources and loc is not None and loc.name in locations:
                    sent += t.sent or 0
                    rtts += [v for v in t.rtts_us or [] if v is not None]
        return sent, rtts

    by_country = {
        g.dest: g
        for g in await service.query_stats(store, PlaceQuery(), "country", catalog=catalog)
    }
    assert set(by_country) == {"AU", "DE", "US", None}
    sent, rtts = samples(set(SOURCES), {SYD.name, MEL.name})
    au = by_country["AU"]
    assert (au.stats.sent, au.stats.received, au.dest_name) == (sent, len(rtts), "Australia")
    assert au.stats.p95_us == pytest.approx(float(np.percentile(rtts, 95)), rel=0.01)
    assert au.stats.min_us == min(rtts) and au.stats.max_us == max(rtts)

    cells = await service.query_stats(store, PlaceQuery(), MATRIX, catalog=catalog)
    cell = next(c for c in cells if (c.source, c.dest) == (FRA.name, "US"))
    sent, rtts = samples({"p-fra"}, {NYC.name})
    assert (cell.stats.sent, cell.stats.received) == (sent, len(rtts))
    assert cell.stats.p50_us == pytest.approx(float(np.percentile(rtts, 50)), rel=0.01)
    assert {c.source for c in cells} == {FRA.name, NYC.name, None}  # "lab" has no location


async def test_filters_by_place(seeded: Any) -> None:
    store, catalog, _ = seeded

    async def dests(group_by: Any = "target", **filters: Any) -> list[Any]:
        groups = await service.query_stats(store, PlaceQuery(**filters), group_by, catalog=catalog)
        return [g.dest for g in groups]

    assert await dests(countries=("au",)) == ["192.0.2.10", "192.0.2.200", "2001:db8::5"]
    assert await dests(cities=("AU/Sydney",), asns=(64500,)) == ["192.0.2.10", "2001:db8::5"]
    assert await dests(asns=(64500,)) == ["192.0.2.10", "198.51.100.7", "2001:db8::5"]
    assert await dests(locations=(MEL.name,)) == ["192.0.2.200"]
    assert await dests("group", groups=("transit",)) == ["apac", "transit"]  # Sydney's too
    assert await dests(groups=("apac",), targets=("192.0.2.200", "198.51.100.7")) == ["192.0.2.200"]
    assert await dests(countries=("ZZ",)) == []  # no such place: nothing, not everything
    assert await dests(countries=()) == []
    sources = await service.query_stats(
        store, PlaceQuery(probe_locations=(FRA.name, NYC.name), countries=("DE",)), "source",
        catalog=catalog,
    )  # fmt: skip
    assert [(g.source, g.source_name, g.stats.sent) for g in sources] == [
        ("p-fra", "Frankfurt", 24), ("p-nyc", None, 24),
    ]  # fmt: skip


async def test_what_has_data_and_what_stays_untagged(seeded: Any) -> None:
    store, catalog, reports = seeded
    since_s = reports[-1].started_at_ms // 1000 // 60 * 60  # round 1's window only
    presence = await store.data_presence(since_s, None)
    assert presence.sources == sorted(SOURCES)
    located = await catalog.locations_by_id(presence.dest_location_ids)
    assert sorted(loc.name for loc in located.values()) == sorted(loc.name for loc in LOCATIONS)
    assert presence.pairs == len(SOURCES) * len(TARGETS)
    empty = await store.data_presence(since_s + 60, since_s + 120)
    assert (empty.sources, empty.dest_location_ids, empty.pairs) == ([], [], 0)
    assert await store.untagged_targets() == ["2001:db8:ffff::1", "example.net"]
    assert await store.untagged_targets(after="2001:db8:ffff::1", limit=5) == ["example.net"]
    assert await service.retag(store, catalog) == 0  # nothing left that a range holds
