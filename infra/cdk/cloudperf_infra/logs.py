"""Log groups with a retention and a removal policy, the same way everywhere."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from cloudperf_infra.config import RETENTION_DAYS

# In the order of config.RETENTION_DAYS (the periods CloudWatch accepts).
_RETENTION = dict(
    zip(
        RETENTION_DAYS,
        (
            logs.RetentionDays.ONE_DAY,
            logs.RetentionDays.THREE_DAYS,
            logs.RetentionDays.FIVE_DAYS,
            logs.RetentionDays.ONE_WEEK,
            logs.RetentionDays.TWO_WEEKS,
            logs.RetentionDays.ONE_MONTH,
            logs.RetentionDays.TWO_MONTHS,
            logs.RetentionDays.THREE_MONTHS,
            logs.RetentionDays.FOUR_MONTHS,
            logs.RetentionDays.FIVE_MONTHS,
            logs.RetentionDays.SIX_MONTHS,
            logs.RetentionDays.ONE_YEAR,
            logs.RetentionDays.THIRTEEN_MONTHS,
            logs.RetentionDays.EIGHTEEN_MONTHS,
            logs.RetentionDays.TWO_YEARS,
            logs.RetentionDays.THREE_YEARS,
            logs.RetentionDays.FIVE_YEARS,
        ),
        strict=True,
    )
)


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for ``days`` (checked against RETENTION_DAYS by the config)."""
    return _RETENTION[days]


def log_group(scope: Construct, construct_id: str, days: int) -> logs.LogGroup:
    # Logs are evidence after an incident: kept when the stack is deleted.
    return logs.LogGroup(
        scope, construct_id, retention=retention(days), removal_policy=RemovalPolicy.RETAIN
    )
