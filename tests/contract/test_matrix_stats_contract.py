"""Matrix cells from every store: the batch stats equal the per-group reference bit for bit.

Random reports (documentation ranges; nothing is sent) from a dozen probes in four locations
to targets in five countries -- all-loss batches, ``-c`` summaries, duplicates,
targets outside every range -- are ingested into each backend's store over several windows.
``service.query_stats`` by probe location x country (the console's matrix) and by pair must
give, for every cell, exactly the floats of :func:`summarize_rows` over that cell's rows as
the store returns them, grouped here by hand.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from adapters.memory import FakeClock
from cloudperf_core import service
from cloudperf_core.catalog import AddressRange, Location, LocationFilter, Probe
from cloudperf_core.models import (
    Grouping,
    MeasurementReport,
    PlaceQuery,
    ProbeSpec,
    StatsQuery,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.windows.summary import summarize_rows

COUNTRIES = ("AU", "DE", "JP", "US", "ZA")
LOCATIONS = [
    Location(
        name=f"AS{64500 + i} {cc}", country_code=cc, country_name=f"Country {cc}", asn=64500 + i
    )
    for i, cc in enumerate(COUNTRIES)
]
RANGES = [
    AddressRange(start=f"198.51.100.{i * 40}", end=f"198.51.100.{i * 40 + 39}", location=loc.name)
    for i, loc in enumerate(LOCATIONS)
]
PROBES = [
    Probe(probe_id=f"p{i}", token_hash=f"h{i}", location=LOCATIONS[i % 4].name) for i in range(12)
]
TARGETS = [f"198.51.100.{i}" for i in range(0, 200, 7)] + ["203.0.113.5"]  # the last: no range


def make_report(rng: random.Random, source: str, at_ms: int, n: int) -> MeasurementReport:
    results = []
    for target in rng.sample(TARGETS, 12):
        kind = rng.random()
        if kind < 0.1:
            results.append(TargetResult(target=target, sent=5, received=0, rtts_us=[None] * 5))
        elif kind < 0.2:
            rtt = rng.randint(500, 90_000)
            results.append(TargetResult(target=target, sent=5, received=5, min_us=rtt - 100,
                                        avg_us=rtt, max_us=rtt + 100))  # fmt: skip
        else:
            rtts: list[int | None] = [
                None if rng.random() < 0.15 else int(rng.uniform(1, 4) * 10 ** rng.randint(3, 5))
                for _ in range(5)
            ]
            got = sum(v is not None for v in rtts)
            dups = rng.choice((0, 0, 2))
            results.append(TargetResult(target=target, sent=5, received=got, duplicates=dups,
                                        rtts_us=rtts))  # fmt: skip
    return MeasurementReport(
        report_id=f"{source}-{n}",
        source=source,
        started_at_ms=at_ms,
        spec=ProbeSpec(targets=tuple(r.target for r in results), count=5),
        results=results,
    )


def bits(value: Any) -> Any:
    built = msgspec.to_builtins(value)
    if isinstance(built, dict):
        return {k: bits(v) for k, v in built.items()}
    return built.hex() if isinstance(built, float) else built


async def test_matrix_and_pair_cells_equal_the_per_group_reference(store_and_catalog: Any) -> None:
    store, catalog = store_and_catalog
    await catalog.put_locations(LOCATIONS)
    await catalog.put_ranges(RANGES)
    for probe in PROBES:
        await catalog.put_probe(probe)
    ids = {loc.location_id: loc for loc in await catalog.find_locations(LocationFilter())}
    assert len(ids) == len(LOCATIONS)
    rng = random.Random(7)
    clock = FakeClock(start_ms=1_700_000_000_000)
    for n in range(4):  # four windows, two reports per probe in some (merged rows)
        reports = [make_report(rng, p.probe_id, clock.now_ms(), n) for p in PROBES]
        extra = [make_report(rng, p.probe_id, clock.now_ms() + 1000, n + 100) for p in PROBES[:5]]
        await service.ingest_reports(store, reports + extra, catalog=catalog)
        clock.advance(60)
    rows: list[WindowAggregate] = await store.fetch_windows(StatsQuery())
    assert any(r.sent and not r.received for r in rows)  # all-loss rows are in there
    assert any(r.dest_location_id is None for r in rows)  # and rows of no country
    location_of = {p.probe_id: p.location for p in PROBES}

    def country(row: WindowAggregate) -> str | None:
        loc = ids.get(row.dest_location_id)
        return None if loc is None else loc.country_code

    for grouping, key_of in (
        (Grouping(source="probe_location", dest="country"),
         lambda r: (location_of[r.source], country(r))),
        (Grouping(source="probe", dest="target"), lambda r: (r.source, r.target)),
    ):  # fmt: skip
        by_key: dict[Any, list[WindowAggregate]] = {}
        for row in rows:
            by_key.setdefault(key_of(row), []).append(row)
        got = await service.query_stats(store, PlaceQuery(), grouping, catalog=catalog)
        assert len(got) == len(by_key) >= 4 * 6  # every location x (5 countries, none)
        for cell in got:
            want = summarize_rows(by_key[(cell.source, cell.dest)])
            assert bits(cell.stats) == bits(want), (cell.source, cell.dest)
