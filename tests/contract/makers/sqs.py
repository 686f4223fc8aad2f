"""SQS on moto's server: a fresh, uniquely named queue and dead-letter queue per test, opened
by URL through the composition root (``cloudperf_core.bootstrap``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlencode

from adapters.sqs import SqsOptions, SqsReportQueue, delete_queues
from cloudperf_core.bootstrap import Config, Services
from tests.contract.makers import Maker, MakerContext
from tests.support.moto import moto_endpoint, unique_name

# The report-queue contract dead-letters a message after this many receives.
MAX_RECEIVES = 3


def moto_options(**overrides: Any) -> dict[str, Any]:
    """Options for the session's moto server; short timeouts so a broken server fails fast."""
    settings: dict[str, Any] = {
        "endpoint_url": moto_endpoint(),
        "region": "us-east-1",
        "connect_timeout_s": 2.0,
        "read_timeout_s": 10.0,
        "call_timeout_s": 10.0,
        "wait_s": 0,  # moto's short poll already returns every visible message
    }
    return settings | overrides


def options(**overrides: Any) -> SqsOptions:
    return SqsOptions(**moto_options(**overrides))


def sqs_url(name: str, **overrides: Any) -> str:
    """``sqs://NAME?...`` on the session's moto server with the test options."""
    query = {
        k: (int(v) if isinstance(v, bool) else v) for k, v in moto_options(**overrides).items()
    }
    return f"sqs://{name}?{urlencode(query)}"


@asynccontextmanager
async def sqs_queues(
    kind: Literal["reports"], *, max_receives: int = MAX_RECEIVES, **option_overrides: Any
) -> AsyncIterator[Any]:
    """Yield a fresh SqsReportQueue (``kind="reports"``); delete its queues after."""
    name = unique_name(f"cloudperf-{kind}")
    url = sqs_url(
        name, create=True, dlq=f"{name}-dlq", max_receives=max_receives, **option_overrides
    )
    config = Config(store="memory://", reports=url)
    async with Services(config) as services:
        queue = await services.port(kind)
        assert isinstance(queue, SqsReportQueue)
        try:
            yield queue
        finally:
            dlq_url = await queue.connection.queue_url(f"{name}-dlq")
            await delete_queues(queue.connection, queue.queue_url, dlq_url)


def _reports(ctx: MakerContext) -> Any:
    return sqs_queues("reports")


REPORT_QUEUES = [Maker("sqs", _reports, needs_service=True)]
