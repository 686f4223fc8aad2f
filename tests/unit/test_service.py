"""Use-cases with the in-memory fakes: validation, splitting, queue draining, idempotency."""

from __future__ import annotations

import msgspec
import pytest

from adapters.memory import InMemoryMeasurementStore, InMemoryReportQueue
from cloudperf_core import service
from cloudperf_core.errors import ReportRejectedError
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult

START_MS = 1_700_000_000_000


def make_report(
    report_id: str = "r1", *, targets: int = 2, source: str = "lab"
) -> MeasurementReport:
    results = [
        TargetResult(
            target=f"10.0.0.{i + 1}",
            sent=4,
            received=3,
            rtts_us=[1000 + i, None, 1200 + i, 1100 + i],
        )
        for i in range(targets)
    ]
    return MeasurementReport(
        report_id=report_id,
        source=source,
        started_at_ms=START_MS,
        spec=ProbeSpec(targets=tuple(r.target for r in results), count=4),
        results=results,
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: setattr(r, "report_id", ""), "report_id"),
        (lambda r: setattr(r, "report_id", "a b"), "report_id"),
        (lambda r: setattr(r, "source", ""), "source"),
        (lambda r: setattr(r.results[0], "received", 5), "received 5 > sent 4"),
        (lambda r: setattr(r.results[0], "rtts_us", [1, 2]), "2 rtts for 4 probes"),
        (lambda r: setattr(r.results[0], "received", 2), "3 rtts present"),
        (lambda r: setattr(r.results[0], "rtts_us", [-5, None, 1, 1]), "out of range"),
        (lambda r: setattr(r.results[0], "duplicates", -1), "duplicates"),
    ],
)
def test_validate_rejects_reports_whose_numbers_cannot_be_true(mutate, reason) -> None:
    report = make_report()
    mutate(report)
    with pytest.raises(ReportRejectedError, match=reason):
        service.validate_report(report)


def test_decode_report_gives_a_reason_for_malformed_bodies() -> None:
    with pytest.raises(ReportRejectedError, match="malformed report"):
        service.decode_report(b'{"report_id": 3}')
    with pytest.raises(ReportRejectedError, match="malformed report"):
        service.decode_report(b"\xff\xfe not json")
    good = make_report()
    assert service.decode_report(service.encode_report(good)) == good


def test_split_report_parts_fit_and_are_deterministic() -> None:
    report = make_report(targets=40)
    size = len(service.encode_report(report))
    parts = service.split_report(report, size // 3)
    assert len(parts) > 1
    assert all(len(service.encode_report(p)) <= size // 3 for p in parts)
    assert [t.target for p in parts for t in p.results] == [t.target for t in report.results]
    assert [p.report_id for p in parts] == [
        p.report_id for p in service.split_report(report, size // 3)
    ]
    assert len({p.report_id for p in parts}) == len(parts)
    assert service.split_report(report, size) == [report]


def test_split_report_refuses_a_single_target_that_cannot_fit() -> None:
    with pytest.raises(ReportRejectedError, match="exceed"):
        service.split_report(make_report(targets=1), 50)


async def test_ingest_same_report_twice_counts_once() -> None:
    store = InMemoryMeasurementStore()
    report = make_report()
    first = await service.ingest_reports(store, [report])
    again = await service.ingest_reports(store, [report, report])
    assert first.ingested == ["r1"]
    assert again.ingested == [] and "r1" in again.duplicates
    [group] = await service.query_stats(store, StatsQuery(targets=("10.0.0.1",)), "target")
    assert (group.stats.sent, group.stats.received) == (4, 3)


async def test_queue_drain_acks_stored_reports_and_releases_bad_ones() -> None:
    queue = InMemoryReportQueue(max_receives=2)
    store = InMemoryMeasurementStore()
    await queue.send([service.encode_report(make_report("good")), b"not a report"])
    first = await service.process_report_batch(queue, store, visibility_s=30)
    assert first.ingested == ["good"]
    assert len(first.failed) == 1 and "malformed" in next(iter(first.failed.values()))
    # The bad message comes back (released), fails again, then sits in the dead-letter queue.
    second = await service.process_report_batch(queue, store, visibility_s=30)
    assert second.received == 1 and len(second.failed) == 1
    third = await service.process_report_batch(queue, store, visibility_s=30)
    assert third.received == 0
    dead = await queue.dead_letters(10)
    assert [m.body for m in dead] == [b"not a report"]


async def test_redelivered_report_is_ingested_once() -> None:
    queue = InMemoryReportQueue(max_receives=5)
    store = InMemoryMeasurementStore()
    body = service.encode_report(make_report("dup"))
    await queue.send([body, body])
    result = await service.process_report_batch(queue, store)
    assert result.ingested == ["dup"] and result.duplicates == ["dup"]
    [group] = await service.query_stats(store, StatsQuery(), "overall")
    assert group.stats.sent == 8  # two targets x 4 probes, one copy
    assert msgspec.json.decode(body, type=MeasurementReport).report_id == "dup"
