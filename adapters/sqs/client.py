"""The SQS client layer under ``adapters.sqs``: options and URLs, one aiobotocore client per
event loop, a deadline and bounded retries on every call, error mapping, body encoding, queue
creation.

Every failure leaves as a CloudperfError: throttling, 5xx, connection failures and timeouts
as BackendUnavailableError (after the URL's retries: botocore's own are switched off so that
one policy, :mod:`adapters._retry`, bounds the time), a missing queue or bad credentials as
BackendConfigError, a stale receipt handle as NotFoundError, anything else as BackendError.
One API call takes at most ``max_attempts * call_timeout_s`` plus backoff, and never more than
``deadline_s``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore import exceptions as bex
from msgspec import Meta

from adapters._loop import LoopBound
from adapters._options import parse_options, split_url
from adapters._retry import RetryPolicy, retrying
from cloudperf_core.bodies import BASE64, ENCODING_ATTRIBUTE, body_from_text, body_to_text
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
    MessageDecodeError,
    NotFoundError,
)
from cloudperf_core.models import ReceivedMessage

log = logging.getLogger(__name__)

SQS_MAX_MESSAGE_BYTES = 262_144  # per message and per SendMessageBatch, attributes included
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_VISIBILITY_S = 43_200
_BASE64_ATTRIBUTES = {ENCODING_ATTRIBUTE: {"DataType": "String", "StringValue": BASE64}}
_BASE64_ATTRIBUTES_BYTES = len(ENCODING_ATTRIBUTE) + len("String") + len(BASE64)
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
# Codes meaning "this receipt handle no longer names an in-flight message".
LAPSED_RECEIPT = frozenset(
    {"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"}
)


Seconds = Annotated[float, Meta(gt=0, le=3600)]
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 2.0


class SqsOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Where SQS is and how long any call may take (every call has a deadline)."""

    endpoint_url: str | None = None
    region: str | None = None
    connect_timeout_s: Seconds = 5.0
    read_timeout_s: Seconds = 25.0  # must exceed wait_s: a long poll is one slow read
    call_timeout_s: Seconds = 30.0  # one attempt of one API call
    # Attempts per API call (throttling, 5xx, connection errors, timeouts), and per batch
    # entry that SQS reported as failed on its side.
    max_attempts: Annotated[int, Meta(ge=1, le=20)] = 4
    deadline_s: Seconds = 60.0  # one API call including every retry and wait
    wait_s: Annotated[int, Meta(ge=0, le=20)] = 1
    max_receives: Annotated[int, Meta(ge=1, le=1000)] = 5
    create: bool = False
    dlq: str | None = None
    queue_url: str | None = None

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            attempt_timeout_s=self.call_timeout_s,
            backoff_s=_BACKOFF_BASE_S,
            backoff_cap_s=_BACKOFF_CAP_S,
            deadline_s=self.deadline_s,
        )


def parse_sqs_url(url: str) -> tuple[str, SqsOptions]:
    """``sqs://NAME?opts`` -> (queue name, options); unknown options are an error."""
    parts = split_url(url)
    name = parts.location or parts.path.strip("/")
    if not _QUEUE_NAME.match(name):
        raise BackendConfigError(f"bad SQS queue name in {parts.safe_url} (FIFO is unsupported)")
    options = parse_options(parts, SqsOptions)
    if options.read_timeout_s <= options.wait_s or options.call_timeout_s <= options.wait_s:
        raise BackendConfigError(
            f"sqs:// needs read_timeout_s and call_timeout_s > wait_s ({parts.safe_url})"
        )
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
        if code in LAPSED_RECEIPT and (code != "InvalidParameterValue" or "eceipt" in message):
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
    """One aiobotocore SQS client per event loop; every call has a deadline and retries."""

    def __init__(self, options: SqsOptions) -> None:
        self.options = options
        self._clients: LoopBound[tuple[Any, AsyncExitStack]] = LoopBound(
            self._open_client, self._close_client
        )
        self._where = options.endpoint_url or f"region {options.region or '(default)'}"

    @classmethod
    async def open(cls, options: SqsOptions) -> SqsConnection:
        """A connection with its client made in the running loop (setup errors show now)."""
        connection = cls(options)
        await connection.client()
        return connection

    async def client(self) -> Any:
        """The running loop's aiobotocore client (exposed for botocore event hooks in tests)."""
        client, _ = await self._clients.get()
        return client

    async def _open_client(self) -> tuple[Any, AsyncExitStack]:
        options = self.options
        config = AioConfig(
            connect_timeout=options.connect_timeout_s,
            read_timeout=options.read_timeout_s,
            # One attempt per botocore call: the retries are ours, under one time bound.
            retries={"total_max_attempts": 1, "mode": "standard"},
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
        return client, stack

    @staticmethod
    async def _close_client(entry: tuple[Any, AsyncExitStack]) -> None:
        try:
            await entry[1].aclose()
        except Exception as exc:
            raise map_error(exc, "close") from exc

    async def _call_once(self, operation: str, **params: Any) -> dict[str, Any]:
        client = await self.client()
        try:
            result: dict[str, Any] = await getattr(client, operation)(**params)
            return result
        except Exception as exc:
            raise map_error(exc, operation) from exc

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run one API call (``operation`` in snake_case) with the retry policy, mapped errors."""
        return await retrying(
            f"SQS {operation} at {self._where}",
            lambda: self._call_once(operation, **params),
            self.options.retry_policy,
        )

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
        """One ``*Batch`` call; entries that failed (call or server side) are retried.

        Entries failing with a code in ``ignore`` are dropped on purpose; an entry refused as
        the sender's fault raises at once; any other failure left when the retry policy runs
        out raises, so nothing is lost silently.
        """
        pending = {str(i): dict(e, Id=str(i)) for i, e in enumerate(entries)}

        async def attempt() -> None:
            result = await self._call_once(
                operation, QueueUrl=queue_url, Entries=list(pending.values())
            )
            for ok in result.get("Successful") or []:
                pending.pop(ok["Id"], None)
            for failed in result.get("Failed") or []:
                if failed["Id"] not in pending:
                    continue
                if failed.get("Code") in ignore:
                    pending.pop(failed["Id"])
                elif failed.get("SenderFault"):
                    raise BackendError(
                        f"SQS {operation} refused an entry: {failed.get('Code')}: "
                        f"{failed.get('Message', '')}"
                    )
            if pending:
                raise BackendUnavailableError(
                    f"SQS {operation}: {len(pending)} entries failed on the server side"
                )

        await retrying(f"SQS {operation} at {self._where}", attempt, self.options.retry_policy)

    async def receive(
        self, queue_url: str, max_messages: int, visibility_s: float, *, wait_s: int
    ) -> list[dict[str, Any]]:
        """Up to ``max_messages`` raw messages: first call long-polls, later ones do not."""
        visibility = visibility_timeout(visibility_s)
        out: list[dict[str, Any]] = []
        while len(out) < max_messages:
            asked = min(SQS_MAX_BATCH_ENTRIES, max_messages - len(out))
            result = await self.call(
                "receive_message",
                QueueUrl=queue_url,
                MaxNumberOfMessages=asked,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=wait_s if not out else 0,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=[ENCODING_ATTRIBUTE],
            )
            got = result.get("Messages") or []
            out.extend(got)
            if len(got) < asked:  # a short answer: asking again now would likely be wasted
                break
        return out

    async def close(self) -> None:
        await self._clients.aclose()


def visibility_timeout(seconds: float) -> int:
    if not 0 <= seconds <= SQS_MAX_VISIBILITY_S:
        raise InvalidSpecError(f"SQS visibility must be 0..{SQS_MAX_VISIBILITY_S} s: {seconds}")
    return math.ceil(seconds)


def encode_body(body: bytes) -> tuple[str, dict[str, Any], int]:
    """(SQS text, message attributes, size SQS counts against its limit) for raw bytes.

    The rule is the core's (:mod:`cloudperf_core.bodies`), shared with the pushed-batch
    use-case that decodes the SQS records Lambda delivers.
    """
    text, encoding = body_to_text(body)
    if encoding is None:
        return text, {}, len(body)
    return text, _BASE64_ATTRIBUTES, len(text) + _BASE64_ATTRIBUTES_BYTES


def decode_body(message: Mapping[str, Any]) -> bytes:
    """The body bytes of a received message (MessageDecodeError if it is not well-formed)."""
    attribute = (message.get("MessageAttributes") or {}).get(ENCODING_ATTRIBUTE) or {}
    return body_from_text(str(message["Body"]), attribute.get("StringValue"))


def received_message(message: Mapping[str, Any]) -> ReceivedMessage:
    """A received report message; a body not in its announced encoding is kept as its text,
    so that it fails to decode as a report on its own (and dead-letters) instead of failing
    the whole receive."""
    try:
        body = decode_body(message)
    except MessageDecodeError as exc:
        log.warning("message %s: %s", message.get("MessageId"), exc)
        body = str(message["Body"]).encode("utf-8", "replace")
    return ReceivedMessage(
        body=body,
        receipt=message["ReceiptHandle"],
        message_id=message["MessageId"],
        deliveries=int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
    )


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
