"""ReportQueue contract: batched send, receive under visibility, ack, release, dead letters.

Every report-queue maker must configure its queue to dead-letter a message after
``MAX_RECEIVES`` receives (SQS: a redrive policy with ``maxReceiveCount`` = 3).
Receives ask for at most 10 messages, the SQS limit.
"""

from __future__ import annotations

import os
from typing import Any

from cloudperf_core.models import ReportQueueDepth
from tests.contract.conftest import BackendTime

MAX_RECEIVES = 3
VISIBILITY_S = 30


async def drain(queue: Any, expected: int, visibility_s: float = VISIBILITY_S) -> list[Any]:
    """Receive in batches of <= 10 until ``expected`` messages arrived or none are left."""
    got: list[Any] = []
    empty_rounds = 0
    while len(got) < expected and empty_rounds < 2:
        batch = await queue.receive(min(10, expected - len(got)), visibility_s)
        assert len(batch) <= 10
        empty_rounds = 0 if batch else empty_rounds + 1
        got.extend(batch)
    return got


async def test_receive_from_an_empty_queue_returns_nothing(report_queue: Any) -> None:
    assert await report_queue.receive(10, VISIBILITY_S) == []
    assert await report_queue.dead_letters(10) == []


async def test_many_bodies_arrive_byte_exact_and_ack_removes_them(report_queue: Any) -> None:
    bodies = [f'{{"report_id": "r-{n}", "x": "\u00e9\\u0000"}}'.encode() for n in range(23)]
    # Raw binary too (a MessagePack report): the port carries bytes, not text.
    bodies += [bytes(range(256)), b"\x00\xff" + os.urandom(64)]
    await report_queue.send(bodies)

    received = await drain(report_queue, len(bodies))

    assert sorted(m.body for m in received) == sorted(bodies)
    assert len({m.message_id for m in received}) == len(bodies)
    assert all(m.deliveries == 1 for m in received)
    await report_queue.ack([m.receipt for m in received])
    assert await report_queue.receive(10, 0) == []


async def test_a_received_message_is_hidden_until_released(report_queue: Any) -> None:
    await report_queue.send([b"one", b"two"])
    first = await drain(report_queue, 2)
    assert sorted(m.body for m in first) == [b"one", b"two"]
    assert await report_queue.receive(10, VISIBILITY_S) == []

    await report_queue.release([m.receipt for m in first if m.body == b"one"])

    again = await drain(report_queue, 1)
    assert [(m.body, m.deliveries) for m in again] == [(b"one", 2)]
    await report_queue.ack([again[0].receipt] + [m.receipt for m in first if m.body == b"two"])
    assert await report_queue.receive(10, 0) == []


async def test_an_unacknowledged_message_comes_back_after_its_visibility(
    report_queue: Any, backend_time: BackendTime
) -> None:
    await report_queue.send([b"slow"])
    (first,) = await drain(report_queue, 1, visibility_s=1)
    assert await report_queue.receive(10, VISIBILITY_S) == []  # hidden while visible_s lasts

    await backend_time.elapse(1.5)

    again = await drain(report_queue, 1)
    assert [(m.body, m.deliveries) for m in again] == [(b"slow", 2)]
    assert again[0].message_id == first.message_id


async def test_depth_counts_waiting_in_flight_and_dead_letters(report_queue: Any) -> None:
    assert await report_queue.depth() == ReportQueueDepth(waiting=0, in_flight=0, dead_letters=0)
    await report_queue.send([b"a", b"b", b"c"])
    assert await report_queue.depth() == ReportQueueDepth(waiting=3, in_flight=0, dead_letters=0)
    taken = await drain(report_queue, 1)
    assert await report_queue.depth() == ReportQueueDepth(waiting=2, in_flight=1, dead_letters=0)
    await report_queue.ack([m.receipt for m in taken])
    rest = await drain(report_queue, 2)
    assert await report_queue.depth() == ReportQueueDepth(waiting=0, in_flight=2, dead_letters=0)
    poison = rest[0]
    await report_queue.ack([rest[1].receipt])
    for _ in range(MAX_RECEIVES - 1):
        await report_queue.release([poison.receipt])
        [poison] = await drain(report_queue, 1)
    await report_queue.release([poison.receipt])
    assert await report_queue.receive(10, VISIBILITY_S) == []  # moves it to the DLQ
    assert await report_queue.depth() == ReportQueueDepth(waiting=0, in_flight=0, dead_letters=1)


async def test_a_message_released_max_receives_times_is_dead_lettered(report_queue: Any) -> None:
    await report_queue.send([b"poison", b"fine"])
    fine_receipts = []
    for delivery in range(1, MAX_RECEIVES + 1):
        batch = await drain(report_queue, 2 if delivery == 1 else 1)
        poison = [m for m in batch if m.body == b"poison"]
        fine_receipts += [m.receipt for m in batch if m.body == b"fine"]
        assert [m.deliveries for m in poison] == [delivery]
        await report_queue.release([m.receipt for m in poison])
    await report_queue.ack(fine_receipts)

    # The next receive finds nothing: the message moved to the dead-letter queue.
    assert await report_queue.receive(10, VISIBILITY_S) == []
    dead = await report_queue.dead_letters(10)
    assert [m.body for m in dead] == [b"poison"]
