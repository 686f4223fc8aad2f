"""SQS fault tests on moto's server: redelivery, poison messages, dead endpoints, batch limits.

Each test gets fresh, uniquely named queues (a dead-letter queue after 3 receives).
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from adapters.memory import InMemoryMeasurementStore
from adapters.sqs import SQS_MAX_MESSAGE_BYTES, SqsConnection, SqsOptions, SqsReportQueue
from cloudperf_core.errors import BackendUnavailableError, ReportRejectedError
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import (
    decode_report,
    encode_report,
    ingest_reports,
    process_report_batch,
)
from tests.contract.makers.sqs import MAX_RECEIVES, sqs_queues

NO_HANG_S = 60  # a guard only: a failing call must end on its own, far sooner than this


def report(report_id: str) -> MeasurementReport:
    return MeasurementReport(
        report_id=report_id,
        source="fra-1",
        started_at_ms=1_700_000_000_000,
        spec=ProbeSpec(targets=("127.0.0.1",), count=3),
        results=[TargetResult(target="127.0.0.1", sent=3, received=2, rtts_us=[1000, None, 1200])],
    )


async def total_sent(store: InMemoryMeasurementStore) -> int:
    return sum(w.sent for w in await store.fetch_windows(StatsQuery()))


async def queue_depth(queue: SqsReportQueue) -> int:
    """Messages in the main queue, visible or not (SQS's approximate counters; exact on moto)."""
    result = await queue.connection.call(
        "get_queue_attributes",
        QueueUrl=queue.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    return sum(int(v) for v in result["Attributes"].values())


@pytest.fixture
async def reports() -> AsyncIterator[SqsReportQueue]:
    async with sqs_queues("reports") as queue:
        yield queue


# --- (a) redelivery after a lapsed lease is ingested once ---------------------------------


async def test_a_report_redelivered_after_its_visibility_lapsed_is_stored_once(
    reports: SqsReportQueue,
) -> None:
    store = InMemoryMeasurementStore()
    await reports.send([encode_report(report("r-1"))])

    # Worker 1 stores the report, then dies before acknowledging it.
    (first,) = await reports.receive(10, visibility_s=1)
    await ingest_reports(store, [decode_report(first.body)])
    await anyio.sleep(2.0)

    # Worker 2 gets the same message again once its visibility has lapsed.
    result = await process_report_batch(reports, store, visibility_s=30)

    assert result.received == 1
    assert result.duplicates == ["r-1"]
    assert result.ingested == []
    assert await total_sent(store) == 3  # one copy of the 3 probes, not two
    assert await queue_depth(reports) == 0  # the redelivered copy was acknowledged


async def test_a_report_sent_twice_is_stored_once(reports: SqsReportQueue) -> None:
    store = InMemoryMeasurementStore()
    body = encode_report(report("r-2"))
    await reports.send([body, body])

    result = await process_report_batch(reports, store)

    assert (result.ingested, result.duplicates) == (["r-2"], ["r-2"])
    assert await total_sent(store) == 3
    assert await queue_depth(reports) == 0


# --- (b) a message that keeps failing ends in the dead-letter queue ------------------------


async def test_an_undecodable_message_ends_in_the_dead_letter_queue(
    reports: SqsReportQueue,
) -> None:
    store = InMemoryMeasurementStore()
    await reports.send([b"\xff not a report", encode_report(report("r-3"))])

    failures = 0
    for _ in range(MAX_RECEIVES + 1):  # the last pass finds the message already redriven
        result = await process_report_batch(reports, store, visibility_s=30)
        failures += len(result.failed)

    assert failures == MAX_RECEIVES
    dead = await reports.dead_letters(10)
    assert [m.body for m in dead] == [b"\xff not a report"]
    assert await queue_depth(reports) == 0  # gone from the main queue
    assert await total_sent(store) == 3  # the good report went through once meanwhile


# --- (c) an unreachable or silent endpoint fails fast, never hangs -------------------------


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def _queue_at(port: int) -> SqsReportQueue:
    options = SqsOptions(
        endpoint_url=f"http://127.0.0.1:{port}",
        connect_timeout_s=1,
        read_timeout_s=1,
        max_attempts=2,
        wait_s=0,
    )
    connection = await SqsConnection.open(options)
    return SqsReportQueue(connection, f"http://127.0.0.1:{port}/123456789012/nowhere")


@pytest.mark.parametrize("which", ["refused_port", "silent_port"])
async def test_an_unreachable_endpoint_raises_backend_unavailable(
    which: str, request: pytest.FixtureRequest
) -> None:
    queue = await _queue_at(request.getfixturevalue(which))
    try:
        with anyio.fail_after(NO_HANG_S):
            with pytest.raises(BackendUnavailableError):
                await queue.send([b"x"])
            with pytest.raises(BackendUnavailableError):
                await queue.receive(10, 30)
    finally:
        await queue.close()


async def test_opening_by_url_on_a_closed_port_raises_backend_unavailable(
    refused_port: int,
) -> None:
    from cloudperf_core.backends import open_report_queue

    url = (
        f"sqs://reports?endpoint_url=http://127.0.0.1:{refused_port}"
        "&create=1&max_attempts=1&connect_timeout_s=1"
    )
    with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
        await open_report_queue(url)


# --- (d) batches respect SQS limits; an oversized report is refused ------------------------


class SendRecorder:
    """Records every SendMessageBatch the real client makes (a botocore event hook)."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    @classmethod
    async def on(cls, queue: SqsReportQueue) -> SendRecorder:
        recorder = cls()
        client = await queue.connection.client()
        client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", recorder._record)
        return recorder

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(list(params["Entries"]))

    @staticmethod
    def size(entry: dict[str, Any]) -> int:
        """The size SQS counts: body plus attribute names, types and values."""
        attrs = entry.get("MessageAttributes") or {}
        return len(entry["MessageBody"].encode()) + sum(
            len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in attrs.items()
        )


async def drain(queue: SqsReportQueue, expected: int) -> list[bytes]:
    got: list[bytes] = []
    while len(got) < expected:
        batch = await queue.receive(10, 30)
        if not batch:
            break
        got += [m.body for m in batch]
    return got


async def test_large_bodies_are_sent_in_batches_within_sqs_limits(
    reports: SqsReportQueue,
) -> None:
    recorder = await SendRecorder.on(reports)
    text_bodies = [os.urandom(50 * 1024).hex().encode() for _ in range(25)]  # 100 KiB each
    binary_bodies = [os.urandom(100 * 1024) for _ in range(3)]  # travel base64-encoded

    await reports.send(text_bodies + binary_bodies)

    assert sum(len(c) for c in recorder.calls) == 28
    for call in recorder.calls:
        assert len(call) <= 10
        assert sum(SendRecorder.size(e) for e in call) <= SQS_MAX_MESSAGE_BYTES
    # Greedy packing: 12 requests of two 100 KiB texts, the 25th text with the first ~137 KiB
    # base64 body, then one request per remaining base64 body.
    assert [len(c) for c in recorder.calls] == [2] * 12 + [2, 1, 1]
    assert sorted(await drain(reports, 28)) == sorted(text_bodies + binary_bodies)


async def test_small_bodies_go_ten_to_a_request(reports: SqsReportQueue) -> None:
    recorder = await SendRecorder.on(reports)
    await reports.send([f"report {n}".encode() for n in range(25)])
    assert [len(c) for c in recorder.calls] == [10, 10, 5]


async def test_a_body_at_the_limit_is_sent_and_one_byte_more_is_refused(
    reports: SqsReportQueue,
) -> None:
    recorder = await SendRecorder.on(reports)
    at_limit = b"x" * SQS_MAX_MESSAGE_BYTES

    with pytest.raises(ReportRejectedError, match="exceeds the SQS limit of 262144 bytes"):
        await reports.send([b"small", at_limit + b"x"])
    # Raw bytes under the limit whose base64 form is over it are refused too.
    with pytest.raises(ReportRejectedError):
        await reports.send([os.urandom(200 * 1024)])
    assert recorder.calls == []  # nothing at all was sent
    assert await queue_depth(reports) == 0

    await reports.send([at_limit])
    assert await drain(reports, 1) == [at_limit]
