"""The SQS adapter's own behaviour on moto's server: URLs, encoding, partial batch failures."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from adapters.sqs import SqsReportQueue, parse_sqs_url
from adapters.sqs.client import map_error
from cloudperf_core.backends import open_backend, open_report_queue
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    NotFoundError,
)
from tests.contract.makers.sqs import sqs_queues
from tests.support.moto import moto_endpoint, unique_name


def sqs_url(name: str, **options: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in ({"endpoint_url": moto_endpoint()} | options).items())
    return f"sqs://{name}?{query}"


# --- URLs -------------------------------------------------------------------------------------


def test_url_options_are_parsed_and_unknown_ones_refused() -> None:
    name, options = parse_sqs_url("sqs://reports?region=eu-west-1&dlq=reports-dlq&wait_s=0")
    assert (name, options.region, options.dlq, options.wait_s) == (
        "reports",
        "eu-west-1",
        "reports-dlq",
        0,
    )
    with pytest.raises(BackendConfigError, match="unknown sqs:// option 'wait'"):
        parse_sqs_url("sqs://reports?wait=1")
    with pytest.raises(BackendConfigError):
        parse_sqs_url("sqs://reports.fifo")
    with pytest.raises(BackendConfigError):
        parse_sqs_url("sqs://reports?wait_s=25")  # over SQS's 20 s long-poll maximum


async def test_open_by_url_creates_queues_and_finds_the_dead_letter_queue() -> None:
    name = unique_name("url")
    created = await open_report_queue(
        sqs_url(name, create=1, dlq=f"{name}-dlq", max_receives=1, wait_s=0)
    )
    await created.close()
    # Reopened without create or dlq: the dead-letter queue comes from the redrive policy.
    queue = await open_report_queue(sqs_url(name, wait_s=0))
    try:
        await queue.send([b"poison"])
        (msg,) = await queue.receive(10, 30)
        await queue.release([msg.receipt])
        assert await queue.receive(10, 30) == []  # maxReceiveCount 1: redriven
        assert [m.body for m in await queue.dead_letters(10)] == [b"poison"]
    finally:
        await queue.close()


async def test_opening_a_missing_queue_or_a_wrong_port_is_a_config_error() -> None:
    with pytest.raises(BackendConfigError):
        await open_backend(sqs_url(unique_name("missing")), "reports")
    with pytest.raises(BackendConfigError, match="reports port"):
        await open_backend(sqs_url(unique_name("cache")), "cache")
    with pytest.raises(BackendConfigError, match="jobs live in Redis"):
        await open_backend(sqs_url(unique_name("jobs")), "jobs")


# --- encoding ---------------------------------------------------------------------------------


async def test_bodies_sqs_cannot_carry_as_text_arrive_byte_exact() -> None:
    bodies = [b"\x00\x01binary", b"\xff\xfe", "\ufffe".encode(), b"", b"\r\n", "é".encode()]
    async with sqs_queues("reports") as queue:
        await queue.send(bodies)
        got = await queue.receive(10, 30)
    assert sorted(m.body for m in got) == sorted(bodies)


# --- partial batch failures -------------------------------------------------------------------


async def fail_entries(queue: SqsReportQueue, *, times: int, sender_fault: bool) -> list[int]:
    """Make the next ``times`` SendMessageBatch answers report their first entry as failed."""
    calls: list[int] = []

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(len(calls))
        if len(calls) <= times and parsed.get("Successful"):
            ok = parsed["Successful"].pop(0)
            parsed.setdefault("Failed", []).append(
                {"Id": ok["Id"], "SenderFault": sender_fault, "Code": "InternalError"}
            )

    client = await queue.connection.client()
    client.meta.events.register("after-call.sqs.SendMessageBatch", hook)
    return calls


async def test_entries_failed_server_side_are_retried_never_dropped() -> None:
    async with sqs_queues("reports") as queue:
        calls = await fail_entries(queue, times=2, sender_fault=False)
        await queue.send([b"a", b"b", b"c"])
        got = {m.body for m in await queue.receive(10, 30)}
    assert len(calls) == 3  # the batch, then two retries of the failed entry
    assert got == {b"a", b"b", b"c"}


async def test_entries_failing_every_time_raise_after_bounded_retries() -> None:
    async with sqs_queues("reports", max_attempts=3) as queue:
        calls = await fail_entries(queue, times=100, sender_fault=False)
        with pytest.raises(
            BackendUnavailableError, match=r"failed on the server side.*gave up after 3 attempts"
        ):
            await queue.send([b"a"])
    assert len(calls) == 3


async def test_an_entry_refused_as_the_senders_fault_raises_at_once() -> None:
    async with sqs_queues("reports") as queue:
        calls = await fail_entries(queue, times=100, sender_fault=True)
        with pytest.raises(BackendError):
            await queue.send([b"a"])
    assert len(calls) == 1


# --- error mapping ----------------------------------------------------------------------------


def client_error(code: str, status: int, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "ReceiveMessage")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("ThrottlingException", 400), BackendUnavailableError),
        (client_error("SomethingNew", 503), BackendUnavailableError),
        (client_error("AWS.SimpleQueueService.NonExistentQueue", 400), BackendConfigError),
        (client_error("InvalidClientTokenId", 403), BackendConfigError),
        (client_error("ReceiptHandleIsInvalid", 400), NotFoundError),
        (client_error("InvalidParameterValue", 400, "ReceiptHandle is expired"), NotFoundError),
        (client_error("InvalidParameterValue", 400, "MaxNumberOfMessages"), BackendError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), BackendUnavailableError),
        (TimeoutError(), BackendUnavailableError),
    ],
)
def test_driver_errors_map_to_the_cloudperf_tree(exc: Exception, expected: type) -> None:
    mapped = map_error(exc, "receive_message")
    assert type(mapped) is expected
    assert "receive_message" in str(mapped)
