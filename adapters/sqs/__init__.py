"""SQS over aiobotocore (``sqs://``): the report queue with its dead-letter queue.

``queues`` holds the two ports; ``client`` the options, deadlines, error mapping and body
encoding they share.
"""

from __future__ import annotations

from adapters.sqs.queues import (
    ENCODING_ATTRIBUTE,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_MESSAGE_BYTES,
    SqsConnection,
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
    "SqsOptions",
    "SqsReportQueue",
    "create_queues",
    "delete_queues",
    "open_backend",
    "parse_sqs_url",
]
