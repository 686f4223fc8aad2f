"""``lambda_entry.worker.handler``: the reports queue's SQS records -> ingest -> partial batch
response.

Every record that decodes and validates is stored (one transaction, idempotent by report id;
:func:`cloudperf_core.service.ingest_sqs_records`); the records that fail on their own, or
all of them when the store is unavailable, come back in ``batchItemFailures`` for SQS to
deliver again (and after ``maxReceiveCount`` to move to the dead-letter queue). Nothing is
dropped: an unexpected error fails the invocation, which fails the whole batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cloudperf_core.bootstrap import Services
from cloudperf_core.errors import InvalidSpecError
from lambda_entry._runtime import call, make_logger, metrics

logger = make_logger("worker")


async def _ingest(services: Services, records: list[dict[str, Any]]) -> dict[str, Any]:
    from cloudperf_core.service import ingest_sqs_records

    result = await ingest_sqs_records(
        await services.store(), records, catalog=await services.catalog()
    )
    metrics.add_metric("RecordsReceived", MetricUnit.Count, result.received)
    metrics.add_metric("ReportsIngested", MetricUnit.Count, len(result.ingested))
    metrics.add_metric("ReportsDuplicate", MetricUnit.Count, len(result.duplicates))
    metrics.add_metric("RecordsFailed", MetricUnit.Count, len(result.failed))
    for message_id, reason in result.failed.items():
        logger.warning("record failed", extra={"message_id": message_id, "reason": reason})
    logger.info(
        "batch ingested",
        extra={
            "received": result.received,
            "ingested": len(result.ingested),
            "duplicates": len(result.duplicates),
            "conflicts": len(result.conflicts),
            "failed": len(result.failed),
        },
    )
    return result.batch_item_failures()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        # Not an SQS event: raising fails the invocation (an SQS batch would come back).
        raise InvalidSpecError("the worker is triggered by SQS: the event has no Records list")
    return call(lambda services: _ingest(services, records))
