"""Use-cases with the in-memory fakes: validation, splitting, queue draining, idempotency."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec
import pytest

from adapters.memory import FakeClock, InMemoryMeasurementStore, InMemoryReportQueue
from cloudperf_core import service
from cloudperf_core.bodies import ENCODING_ATTRIBUTE
from cloudperf_core.errors import BackendUnavailableError, InvalidSpecError, ReportRejectedError
from cloudperf_core.fping.runner import FpingRunner
from cloudperf_core.models import (
    IngestOutcome,
    MeasurementReport,
    ProbeSpec,
    ProcessResult,
    ReportWindows,
    StatsQuery,
    TargetResult,
    WindowAggregate,
)
from tests.support.lambda_events import sqs_record
from tests.unit.test_runner import FakeExecutor, answer_all

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
def test_validate_rejects_reports_whose_numbers_cannot_be_true(
    mutate: Callable[[MeasurementReport], object], reason: str
) -> None:
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


# --- batches: a bad report fails alone ------------------------------------------------------


def _poison(report_id: str) -> bytes:
    """The issue's poison report: a count no store can add to."""
    report = make_report(report_id)
    report.results[0] = msgspec.structs.replace(
        report.results[0], sent=9223372036854775807, received=0, rtts_us=None
    )
    return service.encode_report(report)


async def _total_sent(store: InMemoryMeasurementStore, query: StatsQuery | None = None) -> int:
    groups = await service.query_stats(store, query or StatsQuery(), "overall")
    return groups[0].stats.sent if groups else 0


async def test_a_poison_report_fails_alone_and_dead_letters_alone() -> None:
    queue = InMemoryReportQueue(max_receives=3)
    store = InMemoryMeasurementStore()
    good = [service.encode_report(make_report(f"good-{i}", targets=2)) for i in range(3)]
    await queue.send([good[0], _poison("poison"), good[1], b"{not json", good[2]])

    first = await service.process_report_batch(queue, store)

    assert sorted(first.ingested) == ["good-0", "good-1", "good-2"]
    assert len(first.failed) == 2
    assert await _total_sent(store) == 3 * 2 * 4
    for _ in range(3):  # the two bad messages come back until the queue gives up on them
        again = await service.process_report_batch(queue, store)
        assert again.ingested == []
    dead = await queue.dead_letters(10)
    assert sorted(m.body for m in dead) == sorted([_poison("poison"), b"{not json"])


class _CorruptWindow:
    """A stored row whose sketch is damaged: any report merging into it fails, others not."""

    def __init__(self, target: str) -> None:
        self.row = WindowAggregate(
            source="lab",
            target=target,
            window_start_s=START_MS // 1000 // 60 * 60,
            window_s=60,
            sent=1,
            sketch=b"\x02garbage",
        )


async def test_a_report_that_cannot_be_stored_fails_alone_the_rest_are_stored() -> None:
    queue = InMemoryReportQueue(max_receives=5)
    store = InMemoryMeasurementStore()
    # Bypassing validation, as a damaged database would: the window of 10.0.0.9 is corrupt.
    await store.ingest([ReportWindows(report_id="old", windows=[_CorruptWindow("10.0.0.9").row])])
    victim = make_report("victim", targets=9)  # its last target is 10.0.0.9
    others = [make_report(f"ok-{i}", targets=2) for i in range(4)]
    await queue.send([service.encode_report(r) for r in [others[0], victim, *others[1:]]])

    result = await service.process_report_batch(queue, store)

    assert sorted(result.ingested) == ["ok-0", "ok-1", "ok-2", "ok-3"]
    [(message_id, reason)] = result.failed.items()
    assert "sketch" in reason
    # The victim's two first targets were not stored either: all or nothing per report.
    assert await _total_sent(store, StatsQuery(targets=("10.0.0.1", "10.0.0.2"))) == 4 * 2 * 4
    (back,) = await queue.receive(10, 30)  # released, not acknowledged
    assert back.message_id == message_id


async def test_a_window_pushed_past_the_store_limits_fails_only_that_report() -> None:
    store = InMemoryMeasurementStore()
    near = WindowAggregate(
        source="lab",
        target="10.0.0.1",
        window_start_s=START_MS // 1000 // 60 * 60,
        window_s=60,
        rtt_sum_us=2**63 - 1000,
        sent=1,
        received=1,
    )
    await store.ingest([ReportWindows(report_id="old", windows=[near])])
    bodies = [service.encode_report(make_report(rid, targets=1)) for rid in ("a", "b")]
    bodies.append(service.encode_report(make_report("c", targets=1, source="other")))
    records = [sqs_record(f"m-{i}", body) for i, body in enumerate(bodies)]

    result = await service.ingest_sqs_records(store, records)

    # a and b each push the sum past 2**63 - 1; c lands in another source's window.
    assert result.ingested == ["c"]
    assert result.failed_message_ids == ["m-0", "m-1"]
    assert all("64-bit" in reason for reason in result.failed.values())


class _FlakyStore(InMemoryMeasurementStore):
    """The in-memory store, unavailable (a transient error) while ``down`` is set."""

    down = True

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        if self.down:
            raise BackendUnavailableError("connection refused")
        return await super().ingest(batch)


async def test_a_transient_store_error_releases_every_message_and_raises() -> None:
    queue = InMemoryReportQueue(max_receives=5)
    store = _FlakyStore()
    await queue.send([service.encode_report(make_report(f"r{i}")) for i in range(3)] + [b"junk"])

    with pytest.raises(BackendUnavailableError):
        await service.process_report_batch(queue, store)

    again = await queue.receive(10, 30)  # all four visible at once: released, not acked
    assert len(again) == 4 and all(m.deliveries == 2 for m in again)
    await queue.release([m.receipt for m in again])
    store.down = False
    result = await service.process_report_batch(queue, store)
    assert sorted(result.ingested) == ["r0", "r1", "r2"]


# --- the pushed batch (an SQS-triggered Lambda) ---------------------------------------------


async def test_pushed_records_are_ingested_in_one_go_and_only_undecodable_ones_fail() -> None:
    store = InMemoryMeasurementStore()
    plain = service.encode_report(make_report("plain"))
    # A body that is not plain UTF-8 travels base64-encoded with the adapter's attribute.
    odd = make_report("odd")
    odd.results[0].errors.append("a router said \uffff")  # SQS refuses U+FFFF
    odd_body = service.encode_report(odd)
    records = [
        sqs_record("m-plain", plain),
        sqs_record("m-odd", odd_body),
        sqs_record("m-junk", b"\xff\xfe not a report"),
        sqs_record("m-bad-b64", b"")
        | {
            "body": "%%%",
            "messageAttributes": {ENCODING_ATTRIBUTE: {"stringValue": "base64"}},
        },
        sqs_record("m-copy", plain),  # the queue delivered the same report twice
    ]
    assert records[1]["messageAttributes"][ENCODING_ATTRIBUTE]["stringValue"] == "base64"

    result = await service.ingest_sqs_records(store, records)

    assert result.received == 5
    assert sorted(result.ingested) == ["odd", "plain"]
    assert result.duplicates == ["plain"]
    assert sorted(result.failed_message_ids) == ["m-bad-b64", "m-junk"]
    assert result.batch_item_failures() == {
        "batchItemFailures": [{"itemIdentifier": m} for m in result.failed_message_ids]
    }
    assert await _total_sent(store) == 2 * 2 * 4


async def test_pushed_records_all_fail_when_the_store_is_unavailable() -> None:
    records = [sqs_record(f"m{i}", service.encode_report(make_report(f"r{i}"))) for i in range(3)]
    records.append(sqs_record("m-junk", b"junk"))

    result = await service.ingest_sqs_records(_FlakyStore(), records)

    assert sorted(result.failed_message_ids) == ["m-junk", "m0", "m1", "m2"]
    assert result.ingested == []


async def test_a_reused_report_id_with_other_content_is_a_conflict_not_a_duplicate() -> None:
    store = InMemoryMeasurementStore()
    first = make_report("same-id")
    other = make_report("same-id", source="elsewhere")
    assert (await service.ingest_reports(store, [first])).ingested == ["same-id"]

    again = await service.ingest_reports(store, [first])
    clash = await service.ingest_reports(store, [other])

    assert (again.duplicates, again.conflicts) == (["same-id"], [])
    assert (clash.duplicates, clash.conflicts) == ([], ["same-id"])
    assert await _total_sent(store) == 2 * 4  # the other content was not stored
    pushed = await service.ingest_sqs_records(
        store,
        [
            sqs_record("m1", service.encode_report(first)),
            sqs_record("m2", service.encode_report(other)),
        ],
    )
    assert pushed.duplicates == ["same-id"] and pushed.conflicts == ["same-id"]
    assert pushed.failed_message_ids == ["m2"]
    assert "different content" in pushed.failed["m2"]


async def test_a_record_without_a_message_id_is_not_an_sqs_event() -> None:
    with pytest.raises(InvalidSpecError, match="messageId"):
        await service.ingest_sqs_records(InMemoryMeasurementStore(), [{"body": "{}"}])
    result = await service.ingest_sqs_records(
        InMemoryMeasurementStore(), [{"messageId": "m1", "body": 5}]
    )
    assert result.failed_message_ids == ["m1"]


async def test_ingest_refuses_reports_from_the_future_of_its_clock() -> None:
    store = InMemoryMeasurementStore()
    clock = FakeClock(start_ms=START_MS - 3_600_000)  # an hour before the report started
    with pytest.raises(ReportRejectedError, match="started_at_ms"):
        await service.ingest_reports(store, [make_report()], clock=clock)
    clock.advance(3600)
    assert (await service.ingest_reports(store, [make_report()], clock=clock)).ingested == ["r1"]


# --- measure --------------------------------------------------------------------------------


async def test_measure_wraps_the_runner_results_in_a_report_that_ingests() -> None:
    clock = FakeClock(start_ms=START_MS)
    progress: list[tuple[int, int]] = []

    class _ClockedExecutor(FakeExecutor):
        async def run(
            self, argv: Sequence[str], *, deadline_s: float, max_output_bytes: int
        ) -> ProcessResult:
            clock.advance(1.5)  # the measurement takes time on the injected clock
            return await super().run(argv, deadline_s=deadline_s, max_output_bytes=max_output_bytes)

    runner = FpingRunner(_ClockedExecutor(answer_all("1.25")), fping_path="/usr/bin/fping")
    spec = ProbeSpec(targets=("127.0.0.1", "::1"), count=3, period_ms=20)

    report = await service.measure(
        runner,
        spec,
        source="lab-1",
        clock=clock,
        on_progress=lambda done, total: progress.append((done, total)),
        job_id="job-7",
    )

    assert (report.source, report.job_id, report.spec) == ("lab-1", "job-7", spec)
    assert (report.started_at_ms, report.finished_at_ms) == (START_MS, START_MS + 1500)
    assert [(r.target, r.sent, r.received, r.rtts_us) for r in report.results] == [
        ("127.0.0.1", 3, 3, [1250] * 3),
        ("::1", 3, 3, [1250] * 3),
    ]
    assert progress[-1] == (2, 2)
    other = await service.measure(runner, spec, source="lab-1", clock=clock)
    assert other.report_id != report.report_id  # a fresh id per measurement
    store = InMemoryMeasurementStore()
    await service.ingest_reports(store, [report], clock=clock)
    [group] = await service.query_stats(store, StatsQuery(targets=("::1",)), "target")
    assert group.stats.sent == 3
    assert group.stats.p50_us == pytest.approx(1250, rel=0.01)
