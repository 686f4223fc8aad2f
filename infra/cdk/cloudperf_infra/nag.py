"""cdk-nag's AwsSolutions checks as a validation plugin, and acknowledgements with reasons.

``add_checks(app)`` makes ``app.synth()`` raise on any finding that is not acknowledged, so a
new finding fails the synthesis tests. Every acknowledgement sits next to the resource it is
about and carries a written reason (``acknowledge`` refuses an empty one).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from cloudperf_infra.config import InfraConfigError


def add_checks(app: App) -> None:
    """Run the AwsSolutions rule pack on every stack of ``app`` when it synthesizes."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept finding ``rule_id`` on ``scope`` (and its children) for ``reason``."""
    if len(reason.strip()) < 20:
        raise InfraConfigError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
