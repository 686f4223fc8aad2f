"""Catalogue import: the two line formats, malformed lines with their numbers, the range join
(either file first gives the same catalogue), resume after an interruption, retagging.

Addresses are documentation ranges and the test hosts' ranges only; nothing is probed."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.memory import FakeClock, InMemoryCatalog, InMemoryMeasurementStore
from cloudperf_core.catalog import AddressRange, Location
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.importers import (
    AsnRecord,
    CityRecord,
    Format,
    LineError,
    StoredSpan,
    combine_for,
    join_chunk,
    parse_dbip_city_line,
    parse_ip2asn_line,
    read_chunk,
)
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.service import ingest_reports
from cloudperf_core.service.admin import import_catalog

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "catalog"
IP2ASN = SAMPLES / "ip2asn-sample.tsv"
CITIES = SAMPLES / "dbip-city-sample.csv"


# --- line formats ---------------------------------------------------------------------------


def test_ip2asn_lines_ipv4_ipv6_and_not_routed() -> None:
    rec = parse_ip2asn_line("192.0.2.0\t192.0.2.127\t64496\tau\tEXAMPLE Transit\n")
    assert rec == AsnRecord(
        version=4, lo=0xC0000200, hi=0xC000027F, asn=64496, country="AU",
        description="EXAMPLE Transit",
    )  # fmt: skip
    v6 = parse_ip2asn_line("2001:db8::\t2001:db8::ff\t4200000000\tNone\t\n")
    assert v6 is not None and (v6.version, v6.asn, v6.country, v6.description) == (
        6, 4_200_000_000, None, None,
    )  # fmt: skip
    assert parse_ip2asn_line("198.51.100.0\t198.51.100.255\t0\tNone\tNot routed") is None


@pytest.mark.parametrize(
    "line,reason",
    [
        ("192.0.2.0\t192.0.2.127\t64496\tAU", "5 tab-separated fields"),
        ("192.0.2.0 192.0.2.127 64496 AU x", "5 tab-separated fields"),
        ("192.0.2.300\t192.0.2.127\t64496\tAU\tx", "not an IP address range"),
        ("192.0.2.9\t192.0.2.1\t64496\tAU\tx", "not an IP address range"),
        ("192.0.2.0\t2001:db8::\t64496\tAU\tx", "not an IP address range"),
        ("192.0.2.0\t192.0.2.1\tAS64496\tAU\tx", "not an AS number"),
        ("192.0.2.0\t192.0.2.1\t4294967296\tAU\tx", "not an AS number"),
        ("192.0.2.0\t192.0.2.1\t-1\tAU\tx", "not an AS number"),
        ("192.0.2.0\t192.0.2.1\t64496\tAUS\tx", "country code"),
        ("192.0.2.0\t192.0.2.1\t64496\tAU\t\x1b]0;owned\x07", "control characters"),
        ("192.0.2.0\t192.0.2.1\t64496\tAU\t" + "x" * 300, "longer than"),
    ],
)
def test_malformed_ip2asn_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(LineError, match=reason):
        parse_ip2asn_line(line)


def test_dbip_city_lines_with_quotes_and_unicode() -> None:
    rec = parse_dbip_city_line(
        '203.0.113.128,203.0.113.255,EU,CH,Zurich,"Zürich, Stadt",47.3769,8.54169\n'
    )
    assert rec == CityRecord(
        version=4, lo=0xCB007180, hi=0xCB0071FF, country="CH", region="Zurich",
        city="Zürich, Stadt", latitude=47.3769, longitude=8.54169,
    )  # fmt: skip
    bare = parse_dbip_city_line("2001:db8::,2001:db8::ff,AS,ZZ,,,,")
    assert (bare.country, bare.region, bare.city, bare.latitude) == (None, None, None, None)


@pytest.mark.parametrize(
    "line,reason",
    [
        ("192.0.2.0,192.0.2.255,OC,AU,NSW,Sydney,-33.8", "8 comma-separated fields"),
        ('192.0.2.0,192.0.2.255,OC,AU,NSW,"Syd,-33.8,151.2', "CSV"),
        ("192.0.2.0,192.0.2.255,OC,AU,NSW,Sydney,-93.8,151.2", "latitude out of range"),
        ("192.0.2.0,192.0.2.255,OC,AU,NSW,Sydney,nan,151.2", "latitude out of range"),
        ("192.0.2.0,192.0.2.255,OC,AU,NSW,Sydney,-33.8,east", "not a longitude"),
        ("192.0.2.0,192.0.2.255,OC,A1,NSW,Sydney,-33.8,151.2", "country code"),
        ("192.0.2.0,x,OC,AU,NSW,Sydney,-33.8,151.2", "not an IP address range"),
        ("192.0.2.0,192.0.2.255,OC,AU,NSW,Syd\u202eney,-33.8,151.2", "control characters"),
    ],
)
def test_malformed_city_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(LineError, match=reason):
        parse_dbip_city_line(line)


def test_a_file_with_bad_lines_is_read_on_with_each_line_numbered(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(
        b"range_start\trange_end\tAS_number\tcountry_code\tAS_description\n"  # header: skipped
        b"10.231.0.0\t10.231.0.255\t64510\tDE\tA\n"
        b"garbage\n"
        b"10.231.0.128\t10.231.1.255\t64510\tDE\toverlaps\n"
        b"\xff\xfe\n"
        b"10.231.2.0\t10.231.2.255\t64510\tDE\t" + b"y" * 5000 + b"\n"
        b"\n"
        b"10.231.3.0\t10.231.3.255\t64511\tAU\tB"  # no final newline
    )
    chunk = read_chunk(path, "ip2asn", offset=0, first_line_no=1, last=None, max_lines=100)
    assert [(r.lo & 0xFFFF) >> 8 for r in chunk.records] == [0, 3]
    assert [n for n, _ in chunk.issues] == [3, 4, 5, 6]
    reasons = dict(chunk.issues)
    assert "5 tab-separated" in reasons[3] and "out of order" in reasons[4]
    assert "UTF-8" in reasons[5] and "longer than" in reasons[6]
    assert chunk.done and chunk.lines == 8 and chunk.offset == path.stat().st_size


def test_chunks_resume_at_their_offset_and_gzip_reads_the_same(tmp_path: Path) -> None:
    packed = tmp_path / "sample.tsv.gz"
    with IP2ASN.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for path in (IP2ASN, packed):
        records, offset, line, last, done = [], 0, 1, None, False
        while not done:
            chunk = read_chunk(path, "ip2asn", offset=offset, first_line_no=line, last=last,
                               max_lines=3)  # fmt: skip
            records += chunk.records
            offset, line, last, done = chunk.offset, line + chunk.lines, chunk.last, chunk.done
        assert len(records) == 9 and line == 11


# --- the join -------------------------------------------------------------------------------


def span(lo: int, hi: int, location: Location) -> StoredSpan:
    return StoredSpan(4, lo, hi, location)


def test_the_join_splits_stored_ranges_and_keeps_what_no_record_covers() -> None:
    syd = Location(name="AU Sydney, New South Wales", country_code="AU", city="Sydney")
    mel = Location(name="AU Melbourne, Victoria", country_code="AU", city="Melbourne")
    base = 0x0AE70000  # 10.231.0.0
    stored = [span(base + 0, base + 99, syd), span(base + 150, base + 299, mel)]
    records = [
        AsnRecord(version=4, lo=base + 50, hi=base + 199, asn=64510, country="DE",
                  description="A"),
        AsnRecord(version=4, lo=base + 250, hi=base + 259, asn=64511, country="US",
                  description="B"),
    ]  # fmt: skip

    out = join_chunk(records, stored, combine_for("ip2asn"))

    got = {
        (int(r.start.split(".")[-1]) + 256 * int(r.start.split(".")[-2]), r.location)
        for r in out.ranges.values()
    }
    assert sorted(got) == [
        (0, syd.name),  # the head of SYD before the first record: unchanged
        (50, "AS64510 AU Sydney, New South Wales"),  # the record over SYD: both sides
        (100, "AS64510 DE"),  # the gap between stored ranges: the ASN side only
        (150, "AS64510 AU Melbourne, Victoria"),
        (200, mel.name),  # MEL between the two records: unchanged
        (250, "AS64511 AU Melbourne, Victoria"),
        (260, mel.name),  # MEL's tail after the last record: unchanged, left for later
    ]
    ends = {r.start: r.end for r in out.ranges.values()}
    assert ends["10.231.0.0"] == "10.231.0.49" and ends["10.231.1.4"] == "10.231.1.43"
    assert [(s.lo - base, s.hi - base) for s in out.left] == [(260, 299)]
    # The piece of a record gets the geolocated country, the ASN its name.
    merged = out.locations["AS64510 AU Sydney, New South Wales"]
    assert (merged.country_code, merged.country_name, merged.asn_name) == ("AU", "Australia", "A")


# --- import use-case ------------------------------------------------------------------------


async def contents(catalog: InMemoryCatalog) -> list[tuple[str, str, Location]]:
    """Every range with its location (ids left out: they differ between catalogues)."""
    out = []
    for r in await catalog.list_ranges(limit=1000):
        location = await catalog.get_location(r.location)
        assert location is not None
        out.append((r.start, r.end, msgspec.structs.replace(location, location_id=None)))
    return out


async def catalogue_after(*steps: tuple[Path, Format]) -> list[tuple[str, str, Location]]:
    catalog, store = InMemoryCatalog(), InMemoryMeasurementStore()
    for path, kind in steps:
        result = await import_catalog(catalog, store, path, kind, clock=FakeClock(), chunk_lines=2)
        assert result.skipped == 0
    return await contents(catalog)


async def test_either_file_first_gives_the_same_catalogue() -> None:
    asn_first = await catalogue_after((IP2ASN, "ip2asn"), (CITIES, "cities"))
    cities_first = await catalogue_after((CITIES, "cities"), (IP2ASN, "ip2asn"))
    assert asn_first == cities_first
    by_start = {start: loc for start, _, loc in asn_first}
    berlin = by_start["10.231.64.0"]
    assert (berlin.name, berlin.asn, berlin.city, berlin.country_name) == (
        "AS64510 DE Berlin", 64510, "Berlin", "Germany",
    )  # fmt: skip
    # Not routed in ip2asn: the range keeps its place but no ASN.
    assert by_start["198.51.100.0"].name == "US San Jose, California"


async def test_an_interrupted_import_resumes_after_the_last_chunk_written(tmp_path: Path) -> None:
    clean = await catalogue_after((IP2ASN, "ip2asn"), (CITIES, "cities"))

    class Flaky(InMemoryCatalog):
        fail_at = 0  # the n-th put_ranges fails (0: none)
        calls = 0

        async def put_ranges(self, ranges: Any) -> int:
            Flaky.calls += 1
            if Flaky.calls == Flaky.fail_at:
                raise BackendUnavailableError("the database went away")
            return await super().put_ranges(ranges)

    catalog, store = Flaky(), InMemoryMeasurementStore()
    await import_catalog(catalog, store, IP2ASN, "ip2asn", clock=FakeClock(), chunk_lines=2)
    Flaky.calls, Flaky.fail_at = 0, 3  # the third chunk of cities (lines 5-6) fails
    with pytest.raises(BackendUnavailableError):
        await import_catalog(catalog, store, CITIES, "cities", clock=FakeClock(), chunk_lines=2)
    (checkpoint,) = (await catalog.get_settings()).imports.values()
    assert checkpoint.kind == "cities" and checkpoint.next_line == 5

    resumed = await import_catalog(
        catalog, store, CITIES, "cities", clock=FakeClock(), chunk_lines=2
    )

    assert resumed.resumed_at_line == 5 and resumed.lines == 11 and resumed.records == 11
    assert (await catalog.get_settings()).imports == {}
    assert await contents(catalog) == clean


async def test_another_version_of_a_file_starts_afresh_and_bad_lines_are_reported(
    tmp_path: Path,
) -> None:
    catalog, store = InMemoryCatalog(), InMemoryMeasurementStore()
    old = tmp_path / "ip2asn.tsv"
    old.write_text("10.231.0.0\t10.231.0.255\t64510\tDE\tA\nnot a line\n")
    settings = await catalog.get_settings()
    from cloudperf_core.catalog import ImportCheckpoint

    stale = ImportCheckpoint(kind="ip2asn", digest="0" * 64, offset=10**9, next_line=99)
    await catalog.put_settings(
        msgspec.structs.replace(settings, imports={"ip2asn:" + "0" * 64: stale})
    )

    result = await import_catalog(catalog, store, old, "ip2asn", clock=FakeClock())

    assert result.resumed_at_line is None and result.records == 1 and result.skipped == 1
    assert [(i.line, "5 tab-separated" in i.reason) for i in result.issues] == [(2, True)]
    assert (await catalog.get_settings()).imports == {}
    assert [r.location for r in await catalog.list_ranges()] == ["AS64510 DE"]


async def test_windows_stored_before_the_import_are_tagged_after_it() -> None:
    catalog, store = InMemoryCatalog(), InMemoryMeasurementStore()
    report = MeasurementReport(
        report_id="r1", source="probe-1", started_at_ms=1_700_000_000_000,
        spec=ProbeSpec(targets=("10.231.200.7",), count=1),
        results=[TargetResult(target="10.231.200.7", sent=1, received=1, rtts_us=[900])],
    )  # fmt: skip
    await ingest_reports(store, [report])
    assert await store.untagged_targets() == ["10.231.200.7"]

    result = await import_catalog(catalog, store, IP2ASN, "ip2asn", clock=FakeClock())

    assert result.retagged == 1 and await store.untagged_targets() == []
    located = await catalog.locate("10.231.200.7")
    assert located is not None and located.name == "AS64511 AU"


async def test_a_location_the_importer_did_not_make_joins_by_its_fields() -> None:
    # A stored range whose location is not one the importer made still joins by fields.
    catalog, store = InMemoryCatalog(), InMemoryMeasurementStore()
    lab = Location(name="Frankfurt lab", country_code="DE", city="Frankfurt")
    await catalog.put_locations([lab])
    await catalog.put_ranges(
        [AddressRange(start="10.231.0.0", end="10.231.0.255", location=lab.name)]
    )
    await import_catalog(catalog, store, IP2ASN, "ip2asn", clock=FakeClock())
    (first, *_) = await catalog.list_ranges()
    assert (first.start, first.end, first.location) == (
        "10.231.0.0",
        "10.231.0.255",
        "AS64510 Frankfurt lab",
    )
