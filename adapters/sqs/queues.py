"""Amazon SQS adapter (aiobotocore): the batched report queue (with its dead-letter queue).

SQS carries reports only. Jobs need per-source routing, an atomic lease and a depth per
source location, which SQS could give only with one queue per location: they live in Redis
(``adapters.elasticache.jobs``).

URL: ``sqs://QUEUE_NAME?option=value&...`` with options

- ``endpoint_url`` — e.g. ``http://127.0.0.1:5000`` for moto; a loopback endpoint gets dummy
  credentials, anything else uses the standard AWS credential chain;
- ``region`` (default: botocore's, e.g. ``AWS_REGION``); ``queue_url`` skips the name lookup;
- ``create=1`` creates the queue (and ``dlq``) if missing; ``dlq=NAME`` names the dead-letter
  queue (else it is found from the queue's redrive policy); ``max_receives`` (default 5) is the
  redrive policy's ``maxReceiveCount`` when creating;
- ``wait_s`` long-poll seconds (0..20, default 1), ``connect_timeout_s``, ``read_timeout_s``,
  ``call_timeout_s`` (one attempt of one call), ``max_attempts``, ``deadline_s`` (one call with
  its retries); see :class:`adapters.sqs.client.SqsOptions`.

SQS bodies are text, reports are bytes: a body that is valid UTF-8 made of characters SQS
accepts travels as is; anything else travels base64-encoded with the message attribute
``cloudperf-encoding=base64``. Size limits (256 KiB per message and per batch, attributes
included) apply to the encoded size; a larger body is refused before anything is sent.
The client layer (options, deadlines, error mapping, encoding) is ``adapters.sqs.client``.

>>> queue = await open_backend("sqs://reports?endpoint_url=http://127.0.0.1:5000&create=1",
...                            "reports")                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import msgspec

from adapters.sqs.client import (
    LAPSED_RECEIPT,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_MESSAGE_BYTES,
    SqsConnection,
    SqsOptions,
    create_queues,
    delete_queues,
    encode_body,
    parse_sqs_url,
    received_message,
)
from cloudperf_core.backends import SharedResources
from cloudperf_core.batching import chunks
from cloudperf_core.bodies import ENCODING_ATTRIBUTE
from cloudperf_core.errors import (
    BackendConfigError,
    ReportRejectedError,
)
from cloudperf_core.models import AnyJob, ReceivedMessage, ReportQueueDepth

__all__ = [
    "ENCODING_ATTRIBUTE",
    "SQS_MAX_BATCH_ENTRIES",
    "SQS_MAX_MESSAGE_BYTES",
    "SqsConnection",
    "SqsOptions",
    "SqsReportQueue",
    "create_queues",
    "delete_queues",
    "open_backend",
    "parse_sqs_url",
]

log = logging.getLogger(__name__)
_job_decoder = msgspec.json.Decoder(AnyJob)


class _SqsQueue:
    def __init__(
        self,
        connection: SqsConnection,
        queue_url: str,
        *,
        owns_connection: bool = True,
        wait_s: int | None = None,
    ) -> None:
        self.connection = connection
        self.queue_url = queue_url
        self.wait_s = connection.options.wait_s if wait_s is None else wait_s
        self._owns_connection = owns_connection

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()


class SqsReportQueue(_SqsQueue):
    """Report bodies as SQS messages, sent in as few SendMessageBatch calls as limits allow."""

    def __init__(
        self,
        connection: SqsConnection,
        queue_url: str,
        *,
        dlq_url: str | None = None,
        max_message_bytes: int = SQS_MAX_MESSAGE_BYTES,
        **kw: Any,
    ) -> None:
        super().__init__(connection, queue_url, **kw)
        self.dlq_url = dlq_url
        self.max_message_bytes = max_message_bytes

    async def send(self, bodies: Sequence[bytes]) -> None:
        """Send every body; ReportRejectedError (nothing sent) if one is over the limit.

        If a later batch fails, earlier ones are already queued: resending all is safe because
        ingest is idempotent by report id.
        """
        encoded = [encode_body(bytes(b)) for b in bodies]
        for (_, _, size), body in zip(encoded, bodies, strict=True):
            if size > self.max_message_bytes:
                raise ReportRejectedError(
                    f"report of {len(body)} bytes ({size} as an SQS message) exceeds the SQS "
                    f"limit of {self.max_message_bytes} bytes; split it by targets and resend"
                )
        # Greedy packing in order: a batch closes at 10 entries or the byte limit.
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        for text, attributes, size in encoded:
            if batch and (
                len(batch) == SQS_MAX_BATCH_ENTRIES or batch_bytes + size > self.max_message_bytes
            ):
                await self.connection.batch("send_message_batch", self.queue_url, batch)
                batch, batch_bytes = [], 0
            batch.append({"MessageBody": text, "MessageAttributes": attributes})
            batch_bytes += size
        if batch:
            await self.connection.batch("send_message_batch", self.queue_url, batch)

    async def receive(self, max_messages: int, visibility_s: float) -> list[ReceivedMessage]:
        raw = await self.connection.receive(
            self.queue_url, max_messages, visibility_s, wait_s=self.wait_s
        )
        return [received_message(m) for m in raw]

    async def ack(self, receipts: Sequence[str]) -> None:
        """Delete messages; a receipt that no longer matches a message is ignored."""
        for chunk in chunks(receipts, SQS_MAX_BATCH_ENTRIES):
            entries = [{"ReceiptHandle": r} for r in chunk]
            await self.connection.batch(
                "delete_message_batch", self.queue_url, entries, ignore=LAPSED_RECEIPT
            )

    async def release(self, receipts: Sequence[str]) -> None:
        """Visible again now; the next receive counts a delivery (and may dead-letter it)."""
        for chunk in chunks(receipts, SQS_MAX_BATCH_ENTRIES):
            entries = [{"ReceiptHandle": r, "VisibilityTimeout": 0} for r in chunk]
            await self.connection.batch(
                "change_message_visibility_batch",
                self.queue_url,
                entries,
                ignore=LAPSED_RECEIPT,
            )

    async def depth(self) -> ReportQueueDepth:
        """SQS's approximate counts (they lag by up to a minute, as SQS documents)."""
        counts = await self._counts(self.queue_url)
        dlq_url = self.dlq_url or await self._find_dlq(required=False)
        dead = None if dlq_url is None else (await self._counts(dlq_url))[0]
        return ReportQueueDepth(waiting=counts[0], in_flight=counts[1], dead_letters=dead)

    async def _counts(self, queue_url: str) -> tuple[int, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        result = await self.connection.call(
            "get_queue_attributes", QueueUrl=queue_url, AttributeNames=names
        )
        attributes = result.get("Attributes", {})
        return int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0))

    async def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Messages in the dead-letter queue; a look only (they stay visible there).

        ``deliveries`` is SQS's receive count, which these looks increase too.
        """
        dlq_url = self.dlq_url or await self._find_dlq()
        seen: dict[str, ReceivedMessage] = {}
        while len(seen) < max_messages:
            batch = await self.connection.receive(dlq_url, max_messages - len(seen), 0, wait_s=0)
            fresh = [m for m in map(received_message, batch) if m.message_id not in seen]
            if not fresh:
                break
            seen.update((m.message_id, m) for m in fresh)
        return list(seen.values())[:max_messages]

    @overload
    async def _find_dlq(self, *, required: Literal[True] = True) -> str: ...
    @overload
    async def _find_dlq(self, *, required: bool) -> str | None: ...

    async def _find_dlq(self, *, required: bool = True) -> str | None:
        result = await self.connection.call(
            "get_queue_attributes", QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
        )
        policy = (result.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            if not required:
                return None
            raise BackendConfigError(f"SQS queue {self.queue_url} has no dead-letter queue")
        arn = str(json.loads(policy)["deadLetterTargetArn"])
        self.dlq_url = await self.connection.queue_url(arn.rsplit(":", 1)[-1])
        return self.dlq_url


def _client_key(options: SqsOptions) -> tuple[object, ...]:
    """What makes two URLs' clients interchangeable (queue-specific options aside)."""
    o = options
    return ("sqs", o.endpoint_url, o.region, o.connect_timeout_s, o.read_timeout_s,
            o.call_timeout_s, o.max_attempts, o.deadline_s)  # fmt: skip


async def open_queue(
    name: str,
    options: SqsOptions,
    factory: Callable[..., _SqsQueue],
    *,
    shared: SharedResources | None = None,
    **kw: Any,
) -> _SqsQueue:
    """Find or create the queue and wrap it.

    Without ``shared`` the queue owns a connection of its own; with it, queues on the same
    endpoint share one client, which ``shared`` closes.
    """
    if shared is None:
        connection = await SqsConnection.open(options)
    else:
        connection = shared.get(
            _client_key(options), lambda: SqsConnection(options), SqsConnection.close
        )
    try:
        dlq_url = None
        if options.create:
            queue_url, dlq_url = await create_queues(
                connection, name, dlq=options.dlq, max_receives=options.max_receives
            )
        else:
            queue_url = options.queue_url or await connection.queue_url(name)
            if options.dlq:
                dlq_url = await connection.queue_url(options.dlq)
        if factory is SqsReportQueue:
            kw["dlq_url"] = dlq_url
        return factory(
            connection, queue_url, owns_connection=shared is None, wait_s=options.wait_s, **kw
        )
    except BaseException:
        if shared is None:
            await connection.close()
        raise


async def open_backend(url: str, port: str, *, shared: SharedResources | None = None) -> object:
    """Entry point for ``sqs://``: the ``reports`` port (SqsReportQueue)."""
    name, options = parse_sqs_url(url)
    if port == "reports":
        return await open_queue(name, options, SqsReportQueue, shared=shared)
    hint = " (jobs live in Redis: redis:// or rediss://)" if port == "jobs" else ""
    raise BackendConfigError(f"sqs:// serves the reports port, not {port!r}{hint}")


if TYPE_CHECKING:  # mypy proves each queue satisfies its port; nothing runs here
    from cloudperf_core.ports import ReportQueue

    def _conforms(reports: SqsReportQueue) -> ReportQueue:
        return reports
