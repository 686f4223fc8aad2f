"""The reports queue (the API puts accepted reports here, the worker ingests them) and its
dead-letter queue: a report the worker fails five times is kept there, never dropped."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cloudperf_infra.config import MainConfig

MAX_RECEIVE_COUNT = 5


class ReportQueues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: MainConfig) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter = sqs.Queue(
            self,
            "DeadLetter",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # the most SQS keeps: time to look and redrive
        )
        self.reports = sqs.Queue(
            self,
            "Reports",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(config.queue_visibility_s),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )
