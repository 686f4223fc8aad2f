"""Grouping window rows by source and destination place: one code path for every grouping."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from cloudperf_core.catalog import Location, Probe
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import (
    Grouping,
    GroupStats,
    MeasurementReport,
    ProbeSpec,
    TargetResult,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.windows.aggregate import merge_into, windows_for_report
from cloudperf_core.windows.group import PlaceIndex, group_windows, grouping_for
from tests.unit.test_aggregate import report, rows_of

SYD = Location(
    name="AS100 Sydney", country_code="AU", country_name="Australia", city="Sydney", asn=100,
    asn_name="Example Net", location_id=1,
)  # fmt: skip
MEL = Location(name="AS200 Melbourne", country_code="AU", city="Melbourne", asn=200, location_id=2)
NYC = Location(name="AS100 New York", country_code="US", city="New York", asn=100, location_id=3)
INDEX = PlaceIndex(
    locations={1: SYD, 2: MEL, 3: NYC},
    probes={
        "p1": Probe(probe_id="p1", token_hash="h", name="Frankfurt 1", location="AS9 Frankfurt"),
        "p2": Probe(probe_id="p2", token_hash="h", location="AS9 Frankfurt"),
    },
    groups_of={"AS100 Sydney": ("apac", "oceania"), "AS200 Melbourne": ("oceania",)},
)
TAGS = {"t-syd": 1, "t-mel": 2, "t-nyc": 3}  # target -> location id; "t-x" is unknown


def tagged(*reports: MeasurementReport) -> list[WindowAggregate]:
    rows = rows_of(*reports)
    return [msgspec.structs.replace(w, dest_location_id=TAGS.get(w.target)) for w in rows]


def probe_report(
    source: str, rtts: dict[str, list[int | None]], at_ms: int = 1_700_000_000_000
) -> MeasurementReport:
    return report(
        [
            TargetResult(target=t, sent=len(v), received=sum(x is not None for x in v), rtts_us=v)
            for t, v in rtts.items()
        ],
        source=source,
        started_at_ms=at_ms,
    )


ROWS = tagged(
    probe_report("p1", {"t-syd": [10, 20], "t-mel": [30, None], "t-nyc": [100], "t-x": [5]}),
    probe_report("p2", {"t-syd": [40], "t-nyc": [200, 300]}),
    probe_report("p3", {"t-mel": [50]}),  # a source the catalogue does not know
)


def keys(groups: list[GroupStats], *fields: str) -> list[tuple[object, ...]]:
    return [tuple(getattr(g, f) for f in fields) for g in groups]


def test_named_groupings_without_a_catalogue() -> None:
    rows = rows_of(
        report([TargetResult(target="t1", sent=2, received=2, rtts_us=[10, 20]),
                TargetResult(target="t2", sent=2, received=1, rtts_us=[None, 30])], source="s1"),
        report([TargetResult(target="t1", sent=1, received=1, rtts_us=[40])], source="s2"),
        report([TargetResult(target="t1", sent=1, received=0, rtts_us=[None])], source="s2",
               started_at_ms=0),
    )  # fmt: skip
    pair = group_windows(rows, grouping_for("pair"))
    assert keys(pair, "source", "dest", "windows") == [
        ("s1", "t1", 1), ("s1", "t2", 1), ("s2", "t1", 2)
    ]  # fmt: skip
    assert [g.stats.sent for g in pair] == [2, 2, 2]
    target = group_windows(rows, grouping_for("target"))
    assert [(g.source, g.dest, g.stats.sent, g.stats.received) for g in target] == [
        (None, "t1", 4, 3), (None, "t2", 2, 1)
    ]  # fmt: skip
    assert target[0].stats.max_us == 40 and target[0].stats.loss_ratio == 0.25
    source = group_windows(rows, grouping_for("source"))
    assert [(g.source, g.dest, g.stats.sent) for g in source] == [("s1", None, 4), ("s2", None, 2)]
    (overall,) = group_windows(rows, grouping_for("overall"))
    assert (overall.stats.sent, overall.stats.received, overall.windows) == (6, 4, 4)
    assert overall.stats.mean_us == 25


def test_destination_places_with_names_and_an_unknown_group() -> None:
    country = group_windows(ROWS, grouping_for("country"), INDEX)
    assert keys(country, "dest", "dest_name", "windows") == [
        ("AU", "Australia", 4), ("US", None, 2), (None, None, 1)
    ]  # fmt: skip
    assert [g.stats.sent for g in country] == [6, 3, 1]
    city = group_windows(ROWS, grouping_for("city"), INDEX)
    assert keys(city, "dest", "dest_name") == [
        ("AU/Melbourne", "Melbourne"), ("AU/Sydney", "Sydney"), ("US/New York", "New York"),
        (None, None),
    ]  # fmt: skip
    asn = group_windows(ROWS, grouping_for("asn"), INDEX)
    assert keys(asn, "dest", "dest_name", "windows") == [
        ("AS100", "Example Net", 4), ("AS200", None, 2), (None, None, 1)
    ]  # fmt: skip
    location = group_windows(ROWS, grouping_for("location"), INDEX)
    assert [g.dest for g in location] == ["AS100 New York", "AS100 Sydney", "AS200 Melbourne", None]


def test_a_location_in_two_groups_counts_in_both() -> None:
    groups = group_windows(ROWS, grouping_for("group"), INDEX)
    assert keys(groups, "dest", "windows") == [("apac", 2), ("oceania", 4), (None, 3)]
    by = {g.dest: g.stats for g in groups}
    assert by["apac"].sent == 3 and by["oceania"].sent == 6  # Sydney's windows in both


def test_probe_location_by_country_is_a_matrix() -> None:
    cells = group_windows(ROWS, Grouping(source="probe_location", dest="country"), INDEX)
    assert keys(cells, "source", "dest", "windows") == [
        ("AS9 Frankfurt", "AU", 3), ("AS9 Frankfurt", "US", 2), ("AS9 Frankfurt", None, 1),
        (None, "AU", 1),
    ]  # fmt: skip
    probes = group_windows(ROWS, grouping_for("source"), INDEX)
    assert keys(probes, "source", "source_name") == [
        ("p1", "Frankfurt 1"), ("p2", None), ("p3", None)
    ]  # fmt: skip


def test_group_percentiles_come_from_the_pooled_samples() -> None:
    rng = np.random.default_rng(7)
    batches = {
        "t-syd": rng.integers(5_000, 20_000, 50),
        "t-mel": rng.integers(100_000, 400_000, 10),
    }
    merged: dict[WindowKey, WindowAggregate] = {}
    for i, (target, values) in enumerate(batches.items()):
        rep = MeasurementReport(
            report_id=f"r{i}", source="p1", started_at_ms=1_700_000_000_000,
            spec=ProbeSpec(targets=(target,), count=len(values)),
            results=[TargetResult(target=target, sent=len(values), received=len(values),
                                  rtts_us=[int(v) for v in values])],
        )  # fmt: skip
        merge_into(merged, windows_for_report(rep).windows)
    rows = [msgspec.structs.replace(w, dest_location_id=TAGS[w.target]) for w in merged.values()]
    (au,) = group_windows(rows, grouping_for("country"), INDEX)
    pooled = np.concatenate(list(batches.values()))
    exact = float(np.percentile(pooled, 95))
    assert au.stats.p95_us == pytest.approx(exact, rel=0.01)
    averaged = np.mean([np.percentile(v, 95) for v in batches.values()])
    assert abs(averaged - exact) / exact > 0.2  # averaging would have been visibly wrong


@pytest.mark.parametrize(
    "bad",
    ["city_pair", Grouping(source="country", dest="none"), Grouping(dest="planet")],  # type: ignore[arg-type]
)
def test_unknown_groupings_are_refused(bad: object) -> None:
    with pytest.raises(InvalidSpecError):
        grouping_for(bad)  # type: ignore[arg-type]
