"""SQS on moto's server: a fresh, uniquely named queue and dead-letter queue per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.sqs import (
    SqsConnection,
    SqsJobQueue,
    SqsOptions,
    SqsReportQueue,
    create_queues,
    delete_queues,
)
from tests.contract.makers import Maker, MakerContext
from tests.support.moto import moto_endpoint, unique_name

# The report-queue contract dead-letters a message after this many receives.
MAX_RECEIVES = 3


def options(**overrides: Any) -> SqsOptions:
    """Options for the session's moto server; short timeouts so a broken server fails fast."""
    settings: dict[str, Any] = {
        "endpoint_url": moto_endpoint(),
        "region": "us-east-1",
        "connect_timeout_s": 2.0,
        "read_timeout_s": 10.0,
        "call_timeout_s": 30.0,
        "wait_s": 0,  # moto's short poll already returns every visible message
    }
    return SqsOptions(**(settings | overrides))


@asynccontextmanager
async def sqs_queues(
    kind: str, *, max_receives: int = MAX_RECEIVES, **option_overrides: Any
) -> AsyncIterator[Any]:
    """Yield a fresh SqsJobQueue (``kind="jobs"``) or SqsReportQueue; delete its queues after."""
    connection = await SqsConnection.open(options(**option_overrides))
    name = unique_name(f"cloudperf-{kind}")
    queue_url, dlq_url = await create_queues(
        connection, name, dlq=f"{name}-dlq", max_receives=max_receives
    )
    queue: SqsJobQueue | SqsReportQueue
    if kind == "jobs":
        queue = SqsJobQueue(connection, queue_url, owns_connection=False)
    else:
        queue = SqsReportQueue(connection, queue_url, dlq_url=dlq_url, owns_connection=False)
    try:
        yield queue
    finally:
        await queue.close()
        await delete_queues(connection, queue_url, dlq_url)
        await connection.close()


def _jobs(ctx: MakerContext) -> Any:
    return sqs_queues("jobs")


def _reports(ctx: MakerContext) -> Any:
    return sqs_queues("reports")


JOB_QUEUES = [Maker("sqs", _jobs)]
REPORT_QUEUES = [Maker("sqs", _reports)]
