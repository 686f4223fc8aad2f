"""Amazon SQS adapter (aiobotocore): a leased job queue and a batched report queue.

URL: ``sqs://QUEUE_NAME?option=value&...`` with options

- ``endpoint_url`` — e.g. ``http://127.0.0.1:5000`` for moto; a loopback endpoint gets dummy
  credentials, anything else uses the standard AWS credential chain;
- ``region`` (default: botocore's, e.g. ``AWS_REGION``); ``queue_url`` skips the name lookup;
- ``create=1`` creates the queue (and ``dlq``) if missing; ``dlq=NAME`` names the dead-letter
  queue (else it is found from the queue's redrive policy); ``max_receives`` (default 5) is the
  redrive policy's ``maxReceiveCount`` when creating;
- ``wait_s`` long-poll seconds (0..20, default 1), ``connect_timeout_s``, ``read_timeout_s``,
  ``call_timeout_s`` (whole call including botocore's retries), ``max_attempts``.

SQS bodies are text, reports are bytes: a body that is valid UTF-8 made of characters SQS
accepts travels as is; anything else travels base64-encoded with the message attribute
``cloudperf-encoding=base64``. Size limits (256 KiB per message and per batch, attributes
included) apply to the encoded size; a larger body is refused before anything is sent.

>>> queue = await open_backend("sqs://reports?endpoint_url=http://127.0.0.1:5000&create=1",
...                            "reports")                               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore import exceptions as bex

from cloudperf_core.backends import redact_url
from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
    NotFoundError,
    ReportRejectedError,
)
from cloudperf_core.models import AnyJob, LeasedJob, ReceivedMessage
from cloudperf_core.ports import Clock

__all__ = [
    "SQS_MAX_BATCH_ENTRIES",
    "SQS_MAX_MESSAGE_BYTES",
    "SqsConnection",
    "SqsJobQueue",
    "SqsOptions",
    "SqsReportQueue",
    "create_queues",
    "delete_queues",
    "open_backend",
    "parse_sqs_url",
]

log = logging.getLogger(__name__)

SQS_MAX_MESSAGE_BYTES = 262_144  # per message and per SendMessageBatch, attributes included
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_VISIBILITY_S = 43_200
ENCODING_ATTRIBUTE = "cloudperf-encoding"
_BASE64_ATTRIBUTES = {ENCODING_ATTRIBUTE: {"DataType": "String", "StringValue": "base64"}}
_BASE64_ATTRIBUTES_BYTES = len(ENCODING_ATTRIBUTE) + len("String") + len("base64")
# Characters SQS refuses in a message body (its allowed set is XML 1.0's).
_SQS_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_UNAVAILABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KmsThrottled",
        "RequestTimeout",
    }
)
_MISSING_QUEUE_CODES = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})
_LAPSED_CODES = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"})
_job_decoder = msgspec.json.Decoder(AnyJob)


@dataclass(frozen=True, kw_only=True)
class SqsOptions:
    """Where SQS is and how long any call may take (every call has a deadline)."""

    endpoint_url: str | None = None
    region: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 25.0  # must exceed wait_s: a long poll is one slow read
    call_timeout_s: float = 60.0
    max_attempts: int = 3  # botocore "standard" retries: throttling, 5xx, connection errors
    wait_s: int = 1
    send_retries: int = 3  # re-sends of entries a batch call reported as failed (server side)
    max_receives: int = 5
    create: bool = False
    dlq: str | None = None
    queue_url: str | None = None


def parse_sqs_url(url: str) -> tuple[str, SqsOptions]:
    """``sqs://NAME?opts`` -> (queue name, options); unknown options are an error."""
    parts = urlsplit(url)
    name = parts.netloc or parts.path.strip("/")
    if not _QUEUE_NAME.match(name):
        raise BackendConfigError(f"bad SQS queue name in {redact_url(url)} (FIFO is unsupported)")
    known = {f.name: f.type for f in fields(SqsOptions)}
    values: dict[str, Any] = {}
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        kind = known.get(key)
        if kind is None:
            raise BackendConfigError(f"unknown sqs:// option {key!r} (known: {', '.join(known)})")
        try:
            if kind == "bool":
                values[key] = raw.lower() in {"1", "true", "yes"}
            elif kind == "int":
                values[key] = int(raw)
            elif kind == "float":
                values[key] = float(raw)
            else:
                values[key] = raw or None
        except ValueError as exc:
            raise BackendConfigError(f"sqs:// option {key}={raw!r} is not a number") from exc
    options = SqsOptions(**values)
    if not 0 <= options.wait_s <= 20 or options.read_timeout_s <= options.wait_s:
        raise BackendConfigError("sqs:// needs 0 <= wait_s <= 20 and read_timeout_s > wait_s")
    return name, options


def _is_loopback(endpoint_url: str) -> bool:
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def map_error(exc: BaseException, what: str) -> CloudperfError:
    """Translate an aiobotocore/botocore/aiohttp failure into the cloudperf error tree."""
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("QueryErrorCode") or err.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"SQS {what}: {code}: {err.get('Message', '')}"
        if code in _UNAVAILABLE_CODES or status >= 500:
            return BackendUnavailableError(message)
        if code in _MISSING_QUEUE_CODES:
            return BackendConfigError(message)
        if code in _LAPSED_CODES and (code != "InvalidParameterValue" or "eceipt" in message):
            # Real SQS answers a lapsed receipt handle with InvalidParameterValue.
            return NotFoundError(message)
        if status in (401, 403):
            return BackendConfigError(message)
        return BackendError(message)
    if isinstance(exc, bex.ConnectionError | bex.HTTPClientError | aiohttp.ClientError | OSError):
        return BackendUnavailableError(f"SQS {what}: cannot reach the endpoint: {exc}")
    if isinstance(exc, TimeoutError):
        return BackendUnavailableError(f"SQS {what}: no answer within the call deadline")
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError | bex.NoRegionError):
        return BackendConfigError(f"SQS {what}: {exc}")
    return BackendError(f"SQS {what}: {exc}")


class SqsConnection:
    """One aiobotocore SQS client, reused for every call; every call has a deadline."""

    def __init__(self, client: Any, stack: AsyncExitStack, options: SqsOptions) -> None:
        self.client = client  # exposed for instrumentation (botocore event hooks in tests)
        self.options = options
        self._stack = stack

    @classmethod
    async def open(cls, options: SqsOptions) -> SqsConnection:
        config = AioConfig(
            connect_timeout=options.connect_timeout_s,
            read_timeout=options.read_timeout_s,
            retries={"max_attempts": options.max_attempts, "mode": "standard"},
        )
        kwargs: dict[str, Any] = {"config": config, "region_name": options.region}
        if options.endpoint_url:
            kwargs["endpoint_url"] = options.endpoint_url
            if _is_loopback(options.endpoint_url):
                # Emulators accept any credentials; real AWS never sits on loopback.
                kwargs["aws_access_key_id"] = "testing"
                kwargs["aws_secret_access_key"] = "testing"  # noqa: S105
                kwargs["region_name"] = options.region or "us-east-1"
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(get_session().create_client("sqs", **kwargs))
        except Exception as exc:
            await stack.aclose()
            raise map_error(exc, "client setup") from exc
        return cls(client, stack, options)

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run one API call (``operation`` in snake_case) and map any failure."""
        try:
            async with asyncio.timeout(self.options.call_timeout_s):
                result: dict[str, Any] = await getattr(self.client, operation)(**params)
                return result
        except Exception as exc:
            raise map_error(exc, operation) from exc

    async def queue_url(self, name: str) -> str:
        result = await self.call("get_queue_url", QueueName=name)
        return str(result["QueueUrl"])

    async def batch(
        self,
        operation: str,
        queue_url: str,
        entries: Sequence[dict[str, Any]],
        *,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        """One ``*Batch`` call; entries that failed server-side are retried with backoff.

        Entries failing with a code in ``ignore`` are dropped on purpose; any other failure
        left after ``send_retries`` re-tries raises, so nothing is lost silently.
        """
        pending = {str(i): dict(e, Id=str(i)) for i, e in enumerate(entries)}
        for attempt in range(self.options.send_retries + 1):
            if attempt:
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
            result = await self.call(operation, QueueUrl=queue_url, Entries=list(pending.values()))
            for ok in result.get("Successful") or []:
                pending.pop(ok["Id"], None)
            retry: dict[str, dict[str, Any]] = {}
            for failed in result.get("Failed") or []:
                entry = pending.pop(failed["Id"], None)
                if entry is None or failed.get("Code") in ignore:
                    continue
                if failed.get("SenderFault"):
                    raise BackendError(
                        f"SQS {operation} refused an entry: {failed.get('Code')}: "
                        f"{failed.get('Message', '')}"
                    )
                retry[failed["Id"]] = entry
            pending = retry
            if not pending:
                return
        raise BackendUnavailableError(
            f"SQS {operation}: {len(pending)} entries still failing after "
            f"{self.options.send_retries} retries"
        )

    async def receive(
        self, queue_url: str, max_messages: int, visibility_s: float, *, wait_s: int
    ) -> list[dict[str, Any]]:
        """Up to ``max_messages`` raw messages: first call long-polls, later ones do not."""
        visibility = _visibility(visibility_s)
        out: list[dict[str, Any]] = []
        while len(out) < max_messages:
            result = await self.call(
                "receive_message",
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(SQS_MAX_BATCH_ENTRIES, max_messages - len(out)),
                VisibilityTimeout=visibility,
                WaitTimeSeconds=wait_s if not out else 0,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=[ENCODING_ATTRIBUTE],
            )
            got = result.get("Messages") or []
            out.extend(got)
            if not got:
                break
        return out

    async def close(self) -> None:
        try:
            await self._stack.aclose()
        except Exception as exc:
            raise map_error(exc, "close") from exc


def _visibility(seconds: float) -> int:
    if not 0 <= seconds <= SQS_MAX_VISIBILITY_S:
        raise InvalidSpecError(f"SQS visibility must be 0..{SQS_MAX_VISIBILITY_S} s: {seconds}")
    return math.ceil(seconds)


def encode_body(body: bytes) -> tuple[str, dict[str, Any], int]:
    """(SQS text, message attributes, size SQS counts against its limit) for raw bytes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _SQS_FORBIDDEN.search(text):
        return text, {}, len(body)
    encoded = base64.b64encode(body).decode("ascii")
    return encoded, _BASE64_ATTRIBUTES, len(encoded) + _BASE64_ATTRIBUTES_BYTES


def decode_body(message: Mapping[str, Any]) -> bytes:
    attribute = (message.get("MessageAttributes") or {}).get(ENCODING_ATTRIBUTE) or {}
    if attribute.get("StringValue") == "base64":
        return base64.b64decode(message["Body"])
    return str(message["Body"]).encode("utf-8")


def _received(message: Mapping[str, Any]) -> ReceivedMessage:
    return ReceivedMessage(
        body=decode_body(message),
        receipt=message["ReceiptHandle"],
        message_id=message["MessageId"],
        deliveries=int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
    )


def _chunks(items: Sequence[str], size: int = SQS_MAX_BATCH_ENTRIES) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def create_queues(
    connection: SqsConnection, name: str, *, dlq: str | None = None, max_receives: int = 5
) -> tuple[str, str | None]:
    """Create ``name`` (and its dead-letter queue ``dlq`` with a redrive policy) if missing.

    Returns (queue URL, dead-letter queue URL or None). Idempotent for equal settings.
    """
    attributes: dict[str, str] = {}
    dlq_url = None
    if dlq is not None:
        if max_receives < 1:
            raise BackendConfigError("max_receives must be at least 1")
        dlq_url = str((await connection.call("create_queue", QueueName=dlq))["QueueUrl"])
        arn = await connection.call(
            "get_queue_attributes", QueueUrl=dlq_url, AttributeNames=["QueueArn"]
        )
        policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"]}
        attributes["RedrivePolicy"] = json.dumps(policy | {"maxReceiveCount": str(max_receives)})
    result = await connection.call("create_queue", QueueName=name, Attributes=attributes)
    return str(result["QueueUrl"]), dlq_url


async def delete_queues(connection: SqsConnection, *queue_urls: str | None) -> None:
    """Delete queues by URL (None entries are skipped); tests use it to clean up."""
    for url in queue_urls:
        if url is not None:
            await connection.call("delete_queue", QueueUrl=url)


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


class SqsJobQueue(_SqsQueue):
    """Jobs as SQS messages; a lease is a receive with a visibility timeout.

    ``lease_id`` is the receipt handle. SQS accepts a stale receipt handle, so this instance
    also remembers the leases it handed out and refuses, with NotFoundError, to extend or ack
    one it knows has lapsed (another process's lease is checked by SQS alone).
    """

    def __init__(
        self, connection: SqsConnection, queue_url: str, *, clock: Clock | None = None, **kw: Any
    ) -> None:
        super().__init__(connection, queue_url, **kw)
        self._clock: Clock = clock or SystemClock()
        self._expiry_ms: dict[str, int] = {}

    async def issue(self, jobs: Sequence[AnyJob]) -> None:
        entries = []
        for job in jobs:
            text, attributes, size = encode_body(msgspec.json.encode(job))
            if size > SQS_MAX_MESSAGE_BYTES:
                raise InvalidSpecError(f"job {job.job_id} encodes to {size} bytes, over SQS's")
            entries.append({"MessageBody": text, "MessageAttributes": attributes})
        for i in range(0, len(entries), SQS_MAX_BATCH_ENTRIES):
            chunk = entries[i : i + SQS_MAX_BATCH_ENTRIES]
            await self.connection.batch("send_message_batch", self.queue_url, chunk)

    async def lease(self, max_jobs: int, lease_s: float) -> list[LeasedJob]:
        lease_ms = _visibility(lease_s) * 1000
        now_ms = self._clock.now_ms()  # before the call: a conservative expiry
        raw = await self.connection.receive(self.queue_url, max_jobs, lease_s, wait_s=self.wait_s)
        self._forget_lapsed(now_ms)
        out = []
        for message in raw:
            try:
                job = _job_decoder.decode(decode_body(message))
            except (msgspec.DecodeError, ValueError) as exc:
                # Left hidden for the lease; the queue's redrive policy dead-letters it.
                log.warning("undecodable job message %s: %s", message.get("MessageId"), exc)
                continue
            received = _received(message)
            self._expiry_ms[received.receipt] = now_ms + lease_ms
            out.append(
                LeasedJob(
                    job=job,
                    lease_id=received.receipt,
                    lease_expires_at_ms=now_ms + lease_ms,
                    deliveries=received.deliveries,
                )
            )
        return out

    def _check_held(self, lease_id: str) -> None:
        expiry_ms = self._expiry_ms.get(lease_id)
        if expiry_ms is not None and expiry_ms <= self._clock.now_ms():
            raise NotFoundError(f"lease {lease_id[:16]}... has lapsed")

    def _forget_lapsed(self, now_ms: int) -> None:
        # Keep lapsed leases an hour to answer NotFoundError; beyond that SQS decides.
        if len(self._expiry_ms) > 10_000:
            horizon_ms = now_ms - 3_600_000
            self._expiry_ms = {k: v for k, v in self._expiry_ms.items() if v > horizon_ms}

    async def extend(self, lease_id: str, lease_s: float) -> None:
        self._check_held(lease_id)
        now_ms = self._clock.now_ms()
        visibility = _visibility(lease_s)
        await self.connection.call(
            "change_message_visibility",
            QueueUrl=self.queue_url,
            ReceiptHandle=lease_id,
            VisibilityTimeout=visibility,
        )
        if lease_id in self._expiry_ms:
            self._expiry_ms[lease_id] = now_ms + visibility * 1000

    async def ack(self, lease_id: str) -> None:
        self._check_held(lease_id)
        await self.connection.call(
            "delete_message", QueueUrl=self.queue_url, ReceiptHandle=lease_id
        )
        self._expiry_ms.pop(lease_id, None)


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
        """Send every body; ReportRejectedError (nothing sent) if one is over the limit."""
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
        return [_received(m) for m in raw]

    async def ack(self, receipts: Sequence[str]) -> None:
        """Delete messages; a receipt that no longer matches a message is ignored."""
        for chunk in _chunks(receipts):
            entries = [{"ReceiptHandle": r} for r in chunk]
            await self.connection.batch(
                "delete_message_batch", self.queue_url, entries, ignore=_LAPSED_CODES
            )

    async def release(self, receipts: Sequence[str]) -> None:
        """Visible again now; the next receive counts a delivery (and may dead-letter it)."""
        for chunk in _chunks(receipts):
            entries = [{"ReceiptHandle": r, "VisibilityTimeout": 0} for r in chunk]
            await self.connection.batch(
                "change_message_visibility_batch", self.queue_url, entries, ignore=_LAPSED_CODES
            )

    async def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        """Messages in the dead-letter queue; a look only (they stay visible there).

        ``deliveries`` is SQS's receive count, which these looks increase too.
        """
        dlq_url = self.dlq_url or await self._find_dlq()
        seen: dict[str, ReceivedMessage] = {}
        while len(seen) < max_messages:
            batch = await self.connection.receive(dlq_url, max_messages - len(seen), 0, wait_s=0)
            fresh = [m for m in map(_received, batch) if m.message_id not in seen]
            if not fresh:
                break
            seen.update((m.message_id, m) for m in fresh)
        return list(seen.values())[:max_messages]

    async def _find_dlq(self) -> str:
        result = await self.connection.call(
            "get_queue_attributes", QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
        )
        policy = (result.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            raise BackendConfigError(f"SQS queue {self.queue_url} has no dead-letter queue")
        arn = str(json.loads(policy)["deadLetterTargetArn"])
        self.dlq_url = await self.connection.queue_url(arn.rsplit(":", 1)[-1])
        return self.dlq_url


async def open_queue(
    name: str, options: SqsOptions, factory: Callable[..., _SqsQueue], **kw: Any
) -> _SqsQueue:
    """Connect, find or create the queue, and wrap it (the queue owns the connection)."""
    connection = await SqsConnection.open(options)
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
        return factory(connection, queue_url, **kw)
    except BaseException:
        await connection.close()
        raise


async def open_backend(url: str, port: str) -> object:
    """Entry point for ``sqs://``: ``jobs`` -> SqsJobQueue, ``reports`` -> SqsReportQueue."""
    name, options = parse_sqs_url(url)
    if port == "jobs":
        return await open_queue(name, options, SqsJobQueue)
    if port == "reports":
        return await open_queue(name, options, SqsReportQueue)
    raise BackendConfigError(f"sqs:// serves the jobs and reports ports, not {port!r}")
