"""Lambda events as AWS delivers them, for handler tests.

The shapes follow the AWS documentation's examples (and Mangum's and Powertools' test
events): an ALB target-group request with or without multi-value headers, an API Gateway
HTTP API payload 2.0 request, an SQS batch, an EventBridge Scheduler invocation (the
schedule's input) and an EventBridge rule's "Scheduled Event". The context is what the
Python runtime passes (``awslambdaric``'s LambdaContext has these attributes).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from cloudperf_core.bodies import ENCODING_ATTRIBUTE, body_to_text

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TARGET_GROUP_ARN = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/cloudperf-api/6d0ecf831eec9f09"
)
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:cloudperf-reports"


@dataclass
class LambdaContext:
    """The attributes of the context object the Python runtime passes to a handler."""

    function_name: str = "cloudperf-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/cloudperf-api"
    log_stream_name: str = "2026/11/30/[$LATEST]0123456789abcdef0123456789abcdef"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _body(body: bytes | str | None, base64_body: bool) -> tuple[str, bool]:
    if body is None:
        return "", False
    raw = body.encode() if isinstance(body, str) else body
    if base64_body:
        return base64.b64encode(raw).decode(), True
    return raw.decode(), False


def alb_event(
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    base64_body: bool = False,
    multi_value: bool = False,
    client_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """An ALB request. ``query`` pairs are sent URL-encoded as the client wrote them (the ALB
    does not decode them); with ``multi_value`` (the target group's attribute
    ``lambda.multi_value_headers.enabled``) repeated headers and parameters keep every value,
    without it only the last one arrives."""
    all_headers = [
        ("accept", "*/*"),
        ("host", "cloudperf-alb-1234567890.eu-west-1.elb.amazonaws.com"),
        ("user-agent", "curl/8.5.0"),
        ("x-amzn-trace-id", f"Root=1-67891233-{uuid.uuid4().hex[:24]}"),
        ("x-forwarded-for", client_ip),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
        *(headers or []),
    ]
    text, encoded = _body(body, base64_body)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": method,
        "path": path,
        "body": text,
        "isBase64Encoded": encoded,
    }
    if multi_value:
        mv_query: dict[str, list[str]] = {}
        for key, value in query or []:
            mv_query.setdefault(key, []).append(value)
        mv_headers: dict[str, list[str]] = {}
        for key, value in all_headers:
            mv_headers.setdefault(key, []).append(value)
        event["multiValueQueryStringParameters"] = mv_query
        event["multiValueHeaders"] = mv_headers
    else:
        event["queryStringParameters"] = dict(query or [])
        event["headers"] = dict(all_headers)
    return event


def http_api_event(
    method: str,
    path: str,
    *,
    raw_query: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | str | None = None,
    base64_body: bool = False,
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    """An API Gateway HTTP API request, payload format 2.0: lower-case headers (repeated ones
    joined by commas), cookies in their own array, the raw query string as sent."""
    text, encoded = _body(body, base64_body)
    query: dict[str, str] = {}
    for part in filter(None, raw_query.split("&")):
        key, _, value = part.partition("=")
        query[key] = f"{query[key]},{value}" if key in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "accept": "*/*",
            "content-length": str(len(text)),
            "host": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": f"Root=1-67891233-{uuid.uuid4().hex[:24]}",
            "x-forwarded-for": source_ip,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:03:00:00 +0000",
            "timeEpoch": 1795921200000,
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = query
    if cookies:
        event["cookies"] = cookies
    if text:
        event["body"] = text
    return event


def sqs_record(message_id: str, body: bytes, *, receive_count: int = 1) -> dict[str, Any]:
    """One record of an SQS event; the body encoded as the SQS adapter sends it (text, or
    base64 with the ``cloudperf-encoding`` attribute)."""
    text, encoding = body_to_text(body)
    attributes = {}
    if encoding is not None:
        attributes[ENCODING_ATTRIBUTE] = {
            "stringValue": encoding,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a" + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795921200000",
            "SenderId": "AROAEXAMPLE:cloudperf-api",
            "ApproximateFirstReceiveTimestamp": "1795921200010",
        },
        "messageAttributes": attributes,
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # what SQS sends
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge rule on a schedule sends (EventBridge Scheduler with no input
    sends ``{}``)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-30T03:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/cloudperf-tick"],
        "detail": {},
    }
