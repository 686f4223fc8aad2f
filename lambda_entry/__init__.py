"""The AWS Lambda entrypoints: thin handlers from an event to a use-case.

``lambda_entry.api.handler`` (ALB or API Gateway HTTP API events, through Mangum),
``lambda_entry.worker.handler`` (SQS records -> ingest, partial batch response),
``lambda_entry.scheduler.handler`` (EventBridge Scheduler -> one scheduler tick) and
``lambda_entry.admin.handler`` (direct invoke: ``{"action": ..., ...}``). They share one event
loop and one set of services per container (:mod:`lambda_entry._runtime`); each module imports
only what its handler needs, so a cold start stays small.
"""
