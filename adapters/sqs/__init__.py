"""SQS over aiobotocore (``sqs://``): leased job queue and report queue with a DLQ.

``queues`` holds the two ports; ``client`` the options, deadlines, error mapping and body
encoding they share.
"""

from __future__ import annotations

from adapters.sqs.queues import (
    ENCODING_ATTRIBUTE,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_MESSAGE_BYTES,
    SqsConnection,
    SqsJobQueue,
    SqsOptions,
    SqsReportQueue,
    create_queues,
    delete_queues,
    open_backend,
    parse_sqs_url,
)

__all__ = [
    "ENCODING_ATTRIBUTE",
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
