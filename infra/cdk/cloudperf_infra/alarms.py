"""Alarms to one SNS topic (optionally mailed): a report in the dead-letter queue, worker or
scheduler errors, API 5xx, Aurora at its capacity ceiling."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cloudperf_infra.config import MainConfig
from cloudperf_infra.functions import Functions
from cloudperf_infra.queues import ReportQueues

_ONE_MIN, _FIVE_MIN = Duration.minutes(1), Duration.minutes(5)
# Aurora at 95 % of its maximum ACUs for 15 minutes: queries queue up, ingest slows down.
ACU_UTILIZATION_PERCENT = 95


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MainConfig,
        queues: ReportQueues,
        functions: Functions,
        cluster: rds.DatabaseCluster,
        api_5xx: cloudwatch.IMetric,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch can publish to an encrypted topic only with a customer key it may use.
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="cloudperf alarms")
        key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="cloudperf alarms", master_key=key, enforce_ssl=True
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        action = actions.SnsAction(self.topic)

        def alarm(
            construct_id: str,
            metric: cloudwatch.IMetric,
            description: str,
            *,
            threshold: float = 0,
            periods: int = 1,
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            return created

        self.dead_letters = alarm(
            "DeadLetters",
            queues.dead_letter.metric_approximate_number_of_messages_visible(
                period=_ONE_MIN, statistic="Maximum"
            ),
            "A report failed ingest 5 times and waits in the dead-letter queue (README: "
            "dead letters).",
        )
        self.worker_errors = alarm(
            "WorkerErrors",
            functions.worker.metric_errors(period=_FIVE_MIN, statistic="Sum"),
            "The worker function failed (not single reports, which go back to the queue).",
        )
        self.scheduler_errors = alarm(
            "SchedulerErrors",
            functions.scheduler.metric_errors(period=_FIVE_MIN, statistic="Sum"),
            "The scheduler tick failed: no new jobs are issued.",
            periods=3,
        )
        self.api_5xx = alarm(
            "Api5xx", api_5xx, "The API answered with server errors (5xx) in the last 5 minutes."
        )
        self.db_at_max = alarm(
            "DatabaseAtMax",
            cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="ACUUtilization",
                dimensions_map={"DBClusterIdentifier": cluster.cluster_identifier},
                period=_FIVE_MIN,
                statistic="Average",
            ),
            f"Aurora used over {ACU_UTILIZATION_PERCENT} % of dbMaxAcu for 15 minutes.",
            threshold=ACU_UTILIZATION_PERCENT,
            periods=3,
        )
