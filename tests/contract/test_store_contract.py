"""MeasurementStore contract: idempotent, all-or-nothing ingest and exact merging of rows.

Rows are built the way the service builds them (``windows_for_report``), so the sketch bytes
are real and merged percentiles can be checked against the pooled raw data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import anyio
import msgspec
import numpy as np
import pytest

from cloudperf_core.errors import BackendUnavailableError, CloudperfError, StoreLimitError
from cloudperf_core.models import (
    IngestOutcome,
    MeasurementReport,
    ProbeSpec,
    ReportWindows,
    StatsQuery,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.windows.aggregate import summarize, windows_for_report

T0_MS = 1_700_000_040_000  # inside the 60 s window starting at 1_700_000_040 s
W0 = 1_700_000_040
ODD_TARGETS = (
    "'; DROP TABLE windows; --",
    'quote"double',
    "back\\slash",
    "percent%_under",
    "ünïcødé ✓ 東京",
    "tab\there",
    "2001:db8::1",
)


def report(
    report_id: str,
    rtts: dict[str, Sequence[int | None]],
    *,
    source: str = "fra-1",
    started_at_ms: int = T0_MS,
    duplicates: int = 0,
) -> ReportWindows:
    results = [
        TargetResult(
            target=target,
            sent=len(values),
            received=sum(v is not None for v in values),
            duplicates=duplicates,
            rtts_us=list(values),
        )
        for target, values in rtts.items()
    ]
    count = max((len(v) for v in rtts.values()), default=1)
    measured = MeasurementReport(
        report_id=report_id,
        source=source,
        started_at_ms=started_at_ms,
        spec=ProbeSpec(targets=tuple(rtts), count=count),
        results=results,
    )
    return windows_for_report(measured, window_s=60)


def key(w: WindowAggregate) -> tuple[str, str, int, int]:
    return (w.source, w.target, w.window_start_s, w.window_s)


async def fetch_all(store: Any, **filters: Any) -> list[WindowAggregate]:
    return sorted(await store.fetch_windows(StatsQuery(**filters)), key=key)


async def test_an_empty_store_has_no_windows(store: Any) -> None:
    assert await store.fetch_windows(StatsQuery()) == []
    assert await store.ingest([]) == IngestOutcome()


async def test_ingested_windows_come_back_unchanged(store: Any) -> None:
    rw = report("r1", {"127.0.0.1": [1000, None, 1200, 1100], "::1": [None, None]})

    outcome = await store.ingest([rw])

    assert outcome == IngestOutcome(ingested=["r1"], duplicates=[])
    assert await fetch_all(store) == sorted(rw.windows, key=key)


async def test_the_same_report_is_counted_once(store: Any) -> None:
    rw = report("r1", {"a": [1000, 2000, None]}, duplicates=1)

    first = await store.ingest([rw, rw])
    second = await store.ingest([rw])
    third = await store.ingest([report("r2", {"a": [3000]}), rw])

    assert (first.ingested, first.duplicates) == (["r1"], ["r1"])
    assert (second.ingested, second.duplicates) == ([], ["r1"])
    assert (third.ingested, third.duplicates) == (["r2"], ["r1"])
    (row,) = await fetch_all(store)
    assert (row.sent, row.received, row.duplicates) == (4, 3, 1)
    assert (row.rtt_min_us, row.rtt_max_us, row.rtt_sum_us) == (1000, 3000, 6000)


async def test_reports_into_one_window_merge_exactly(store: Any) -> None:
    rng = random.Random(7)
    samples = [
        [int(rng.lognormvariate(10, 0.6)) if rng.random() > 0.1 else None for _ in range(400)]
        for _ in range(4)
    ]
    batches = [
        report(f"r{i}", {"target": values}, started_at_ms=T0_MS + i * 5_000)
        for i, values in enumerate(samples)
    ]
    later = report("late", {"target": [5, 6]}, started_at_ms=T0_MS + 60_000)

    await store.ingest(batches[:2])
    await store.ingest([batches[2]])
    await store.ingest([later, batches[3]])

    rows = await fetch_all(store)
    assert [r.window_start_s for r in rows] == [W0, W0 + 60]
    merged = rows[0]
    received = [v for values in samples for v in values if v is not None]
    assert merged.sent == 1600
    assert merged.received == len(received)
    assert merged.rtt_sum_us == sum(received)
    assert (merged.rtt_min_us, merged.rtt_max_us) == (min(received), max(received))
    assert merged.jitter_pairs == sum(
        max(sum(v is not None for v in values) - 1, 0) for values in samples
    )
    stats = summarize([merged])
    pooled = np.percentile(np.asarray(received), [50, 90, 95, 99])
    got = [stats.p50_us, stats.p90_us, stats.p95_us, stats.p99_us]
    for exact, approx in zip(pooled, got, strict=True):
        assert approx == pytest.approx(exact, rel=0.01)
    assert stats.mean_us == pytest.approx(float(np.mean(received)), rel=1e-9)
    assert stats.stddev_us == pytest.approx(float(np.std(received)), rel=1e-6)


async def test_filters_by_source_target_and_time(store: Any) -> None:
    await store.ingest(
        [
            report("a", {"t1": [100], "t2": [200]}, source="s1"),
            report("b", {"t1": [300]}, source="s2"),
            report("c", {"t1": [400]}, source="s1", started_at_ms=T0_MS + 120_000),
        ]
    )

    def pairs(rows: list[WindowAggregate]) -> list[tuple[str, str, int]]:
        return [(r.source, r.target, r.window_start_s) for r in rows]

    assert len(await fetch_all(store)) == 4
    assert pairs(await fetch_all(store, sources=("s2",))) == [("s2", "t1", W0)]
    assert pairs(await fetch_all(store, targets=("t2", "nope"))) == [("s1", "t2", W0)]
    assert pairs(await fetch_all(store, sources=("s1",), targets=("t1",))) == [
        ("s1", "t1", W0),
        ("s1", "t1", W0 + 120),
    ]
    # The time range is [since_s, until_s) over window starts.
    assert pairs(await fetch_all(store, since_s=W0 + 1)) == [("s1", "t1", W0 + 120)]
    assert pairs(await fetch_all(store, until_s=W0 + 120)) == [
        ("s1", "t1", W0),
        ("s1", "t2", W0),
        ("s2", "t1", W0),
    ]
    assert pairs(await fetch_all(store, since_s=W0 + 120, until_s=W0 + 180)) == [
        ("s1", "t1", W0 + 120)
    ]
    assert await fetch_all(store, since_s=W0 + 60, until_s=W0 + 120) == []
    # An empty filter list matches nothing (it is not "no filter").
    assert await fetch_all(store, sources=()) == []
    assert await fetch_all(store, targets=()) == []


async def test_many_targets_in_one_batch(store: Any) -> None:
    targets = [f"10.{i // 250}.{i % 250}.1" for i in range(600)]
    rw = report("big", {t: [1000 + i, None] for i, t in enumerate(targets)})

    assert (await store.ingest([rw])).ingested == ["big"]

    rows = await fetch_all(store)
    assert sorted(r.target for r in rows) == sorted(targets)
    assert all((r.sent, r.received) == (2, 1) for r in rows)
    # A filter longer than any single-statement parameter budget still works, once per row.
    wanted = [*targets[::2], *targets[:50], "absent"]
    filtered = await fetch_all(store, targets=tuple(wanted))
    assert sorted(r.target for r in filtered) == sorted({*targets[::2], *targets[:50]})


async def test_odd_strings_are_stored_and_matched_literally(store: Any) -> None:
    await store.ingest([report("r-'\"; --", {t: [1000] for t in ODD_TARGETS}, source="src ' \"")])

    rows = await fetch_all(store)
    assert sorted(r.target for r in rows) == sorted(ODD_TARGETS)
    assert {r.source for r in rows} == {"src ' \""}
    for target in ODD_TARGETS:
        (row,) = await fetch_all(store, targets=(target,))
        assert row.target == target
    # No pattern matching: "%" and "_" are ordinary characters.
    assert await fetch_all(store, targets=("percent%",)) == []
    assert await fetch_all(store, targets=("%",)) == []
    again = await store.ingest([report("r-'\"; --", {"x": [1]})])
    assert again.duplicates == ["r-'\"; --"]


async def test_a_failing_batch_stores_nothing(store: Any) -> None:
    await store.ingest([report("base", {"t": [1000]})])
    good = report("good", {"u": [2000]})
    corrupt = report("corrupt", {"t": [3000]})
    corrupt.windows[0].sketch = b"\xffnot a sketch"

    with pytest.raises(CloudperfError):
        await store.ingest([good, corrupt])

    rows = await fetch_all(store)
    assert [(r.target, r.sent) for r in rows] == [("t", 1)]
    # Neither id was recorded, so the good report can still be ingested.
    assert (await store.ingest([good])).ingested == ["good"]


async def test_concurrent_ingests_of_one_report_store_it_once(store: Any) -> None:
    rw = report("race", {"t": [1000, 2000]})
    outcomes: list[IngestOutcome] = []

    async def ingest_once() -> None:
        try:
            outcomes.append(await store.ingest([rw]))
        except BackendUnavailableError:  # a lost lock race is transient: retry as callers do
            outcomes.append(await store.ingest([rw]))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(ingest_once)

    assert sum(len(o.ingested) for o in outcomes) == 1
    assert sum(len(o.duplicates) for o in outcomes) == 3
    (row,) = await fetch_all(store)
    assert (row.sent, row.received) == (2, 2)


async def test_a_reused_report_id_with_other_content_is_a_conflict(store: Any) -> None:
    first = report("r1", {"a": [1000, 2000]})
    first.digest = b"\x01" * 16
    same = report("r1", {"a": [1000, 2000]})
    same.digest = b"\x01" * 16
    other = report("r1", {"a": [5000]})
    other.digest = b"\x02" * 16
    unknown = report("r1", {"a": [7000]})  # no digest (b""): cannot tell, a duplicate

    assert (await store.ingest([first, other])).conflicts == ["r1"]
    again = await store.ingest([same, other, unknown])

    assert (again.ingested, again.duplicates, again.conflicts) == ([], ["r1", "r1"], ["r1"])
    (row,) = await fetch_all(store)
    assert (row.sent, row.rtt_sum_us) == (2, 3000)  # the first content, once


def _at_limit(rw: ReportWindows, **fields: int) -> ReportWindows:
    return ReportWindows(
        report_id=rw.report_id,
        windows=[msgspec.structs.replace(w, **fields) for w in rw.windows],
    )


async def test_rows_past_what_a_store_holds_are_refused_and_the_window_stays_usable(
    store: Any,
) -> None:
    await store.ingest([report("base", {"t": [1000]})])
    big = 2**63 - 1
    # A window at the 64-bit limit (straight to the store: ingest validation would refuse
    # the report that carried it) ...
    await store.ingest([_at_limit(report("edge", {"u": [1000]}), sent=big - 1, received=1)])

    # ... refuses what would carry it over, as a CloudperfError, writing nothing of the batch.
    for overflowing in (
        _at_limit(report("over-1", {"u": [1000]}), sent=2, received=1),
        _at_limit(report("over-2", {"v": [1000]}), rtt_sum_us=2**63),
        _at_limit(report("over-3", {"v": [1000]}), duplicates=2**64),
    ):
        with pytest.raises(StoreLimitError):
            await store.ingest([report("innocent", {"t": [3000]}), overflowing])

    rows = {r.target: r for r in await fetch_all(store)}
    assert sorted(rows) == ["t", "u"]
    assert (rows["t"].sent, rows["u"].sent) == (1, big - 1)
    # Not poisoned: the next sound reports into both windows are stored.
    outcome = await store.ingest([report("next", {"t": [2000], "v": [500]})])
    assert outcome.ingested == ["next"]
    rows = {r.target: r for r in await fetch_all(store)}
    assert (rows["t"].sent, rows["t"].rtt_sum_us, rows["v"].sent) == (2, 3000, 1)
