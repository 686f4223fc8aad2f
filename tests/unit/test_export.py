"""Export rows: one per (window, source group, destination group), merged like queries are
(sketches, never averages), the same whatever the slice size, safe to open as a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

import pytest

from adapters.memory import InMemoryCatalog, InMemoryMeasurementStore
from cloudperf_core.catalog import AddressRange, Location, Probe
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import Grouping, MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import ingest_reports, query_stats, retag
from cloudperf_core.service.export import EXPORT_COLUMNS, ExportRow, export_lines, export_rows

T0_S = 1_700_000_040  # a minute boundary
SYD = Location(name="=HYPERLINK(evil) AU", country_code="AU", asn=64511)


def report(n: int, probe: str, start_s: int, rtts: list[int | None]) -> MeasurementReport:
    return MeasurementReport(
        report_id=f"r{n}", source=probe, started_at_ms=start_s * 1000,
        spec=ProbeSpec(targets=("10.231.200.1", "10.231.200.2"), count=len(rtts)),
        results=[
            TargetResult(target="10.231.200.1", sent=len(rtts),
                         received=sum(r is not None for r in rtts), rtts_us=rtts),
            TargetResult(target="10.231.200.2", sent=len(rtts), received=len(rtts),
                         rtts_us=[2000] * len(rtts)),
        ],
    )  # fmt: skip


async def seeded() -> tuple[InMemoryMeasurementStore, InMemoryCatalog]:
    store, catalog = InMemoryMeasurementStore(), InMemoryCatalog()
    await catalog.put_locations([SYD])
    await catalog.put_ranges(
        [AddressRange(start="10.231.200.0", end="10.231.200.255", location=SYD.name)]
    )
    await catalog.put_probe(Probe(probe_id="fra-1", token_hash="0" * 64, location=SYD.name))
    reports = [
        report(1, "fra-1", T0_S, [1000, 3000, None, 5000]),
        report(2, "syd-1", T0_S + 5, [7000, 9000, 11000, 13000]),
        report(3, "fra-1", T0_S + 60, [4000, None, None, None]),
        report(4, "fra-1", T0_S + 7200, [1000] * 4),
    ]
    await ingest_reports(store, reports)
    await retag(store, catalog)
    return store, catalog


async def collect(*args: object, **kwargs: object) -> list[ExportRow]:
    return [row async for row in export_rows(*args, **kwargs)]  # type: ignore[arg-type]


async def test_rows_per_window_and_pair_with_loss_and_percentiles_in_ms() -> None:
    store, catalog = await seeded()
    rows = await collect(store, catalog, since_s=T0_S, until_s=T0_S + 3 * 3600)
    keys = [(r.window_start_s - T0_S, r.source, r.dest) for r in rows]
    assert keys == [
        (0, "fra-1", "10.231.200.1"), (0, "fra-1", "10.231.200.2"),
        (0, "syd-1", "10.231.200.1"), (0, "syd-1", "10.231.200.2"),
        (60, "fra-1", "10.231.200.1"), (60, "fra-1", "10.231.200.2"),
        (7200, "fra-1", "10.231.200.1"), (7200, "fra-1", "10.231.200.2"),
    ]  # fmt: skip
    first = rows[0]
    assert (first.sent, first.received, first.loss_ratio) == (4, 3, 0.25)
    assert (first.min_ms, first.max_ms, first.window_s) == (1.0, 5.0, 60)
    assert first.window_start == "2023-11-14T22:14:00Z"
    assert rows[4].loss_ratio == 0.75


async def test_grouped_rows_merge_sketches_exactly_as_queries_do() -> None:
    store, catalog = await seeded()
    grouping = Grouping(source="none", dest="asn")
    (row, *_) = await collect(store, catalog, since_s=T0_S, until_s=T0_S + 60, group_by=grouping)
    (expected,) = await query_stats(
        store, StatsQuery(since_s=T0_S, until_s=T0_S + 60), grouping, catalog=catalog
    )
    assert (row.dest, row.sent, row.received, row.windows) == ("AS64511", 16, 15, 4)
    assert row.p90_ms == pytest.approx(expected.stats.p90_us / 1000, abs=0.001)  # type: ignore[operator]
    assert row.p50_ms == pytest.approx(expected.stats.p50_us / 1000, abs=0.001)  # type: ignore[operator]


async def test_slices_do_not_change_the_rows() -> None:
    store, catalog = await seeded()
    whole = await collect(store, catalog, since_s=T0_S, until_s=T0_S + 3 * 3600, slice_s=86_400)
    sliced = await collect(store, catalog, since_s=T0_S, until_s=T0_S + 3 * 3600, slice_s=7)
    assert sliced == whole and len(whole) == 8


async def test_csv_has_a_header_and_defuses_formula_names_jsonl_decodes() -> None:
    store, catalog = await seeded()
    grouping = Grouping(source="probe_location", dest="location")

    async def lines(fmt: str) -> str:
        rows = export_rows(store, catalog, since_s=T0_S, until_s=T0_S + 60, group_by=grouping)
        return "".join([line async for line in export_lines(rows, fmt)])  # type: ignore[arg-type]

    table = list(csv.reader(io.StringIO(await lines("csv"))))
    assert tuple(table[0]) == EXPORT_COLUMNS
    by_source = {row[3]: row for row in table[1:]}
    # fra-1's location and every destination are named "=HYPERLINK(...)": never a formula.
    assert by_source["'=HYPERLINK(evil) AU"][4] == "'=HYPERLINK(evil) AU"
    assert by_source[""][4] == "'=HYPERLINK(evil) AU"  # syd-1 has no catalogue entry
    objects = [json.loads(line) for line in (await lines("jsonl")).splitlines()]
    assert {o["source"] for o in objects} == {"=HYPERLINK(evil) AU", None}


async def test_place_groupings_need_a_catalogue_and_ranges_must_be_ordered() -> None:
    store, _ = await seeded()
    with pytest.raises(InvalidSpecError):
        await collect(store, None, since_s=T0_S, until_s=T0_S + 60, group_by="country")
    with pytest.raises(InvalidSpecError):
        await collect(store, None, since_s=T0_S, until_s=T0_S - 1)
    assert len(await collect(store, None, since_s=T0_S, until_s=T0_S + 60, group_by="pair")) == 4
