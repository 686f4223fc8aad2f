"""cdk-nag is really on (a new finding fails synthesis), and the synthesized resource types
and counts match the reviewed snapshot.

Update the snapshot after an intended change with:
    CLOUDPERF_UPDATE_SNAPSHOT=1 .venv/bin/pytest infra/cdk/tests -k snapshot
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import jsii
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from cloudperf_infra.config import InfraConfigError
from cloudperf_infra.nag import acknowledge, add_checks

from conftest import Synthesized

SNAPSHOT = Path(__file__).parent / "snapshots" / "resource_counts.json"


def _unencrypted_queue_app(tmp_path: Path, *, acknowledged: bool) -> App:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Bad")
    queue = sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    for rule in ("AwsSolutions-SQS3", "AwsSolutions-SQS4"):
        acknowledge(queue, rule, "not what this test is about: only SQS2 is under test")
    if acknowledged:
        acknowledge(queue, "AwsSolutions-SQS2", "a test queue that holds nothing secret")
    add_checks(app)
    return app


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    with pytest.raises((RuntimeError, jsii.errors.JavaScriptError), match="AwsSolutions-SQS2"):
        _unencrypted_queue_app(tmp_path / "a", acknowledged=False).synth()
    report = json.loads((tmp_path / "a" / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert rules == {"AwsSolutions-SQS2"}
    _unencrypted_queue_app(tmp_path / "b", acknowledged=True).synth()


def test_an_acknowledgement_needs_a_reason(tmp_path: Path) -> None:
    stack = Stack(App(outdir=str(tmp_path)), "S")
    with pytest.raises(InfraConfigError, match="needs a real reason"):
        acknowledge(stack, "AwsSolutions-SQS2", "because")


def test_all_stacks_pass_cdk_nag(synthesized: Synthesized) -> None:
    # The session fixture synthesized every stack with the AwsSolutions pack as a validation
    # plugin; synth() raises on any finding, so reaching this line is the check.
    assert set(synthesized.templates) == {
        "Default",
        "Alb",
        "AlbDns",
        "Insecure",
        "Probe",
        "ProbeSsh",
    }


def _counts(synthesized: Synthesized) -> dict[str, dict[str, int]]:
    return {
        name: dict(sorted(Counter(r["Type"] for r in raw["Resources"].values()).items()))
        for name, raw in synthesized.raw.items()
    }


def test_resource_types_and_counts_match_the_snapshot(synthesized: Synthesized) -> None:
    counts = _counts(synthesized)
    if os.environ.get("CLOUDPERF_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(counts, indent=2) + "\n")
    assert counts == json.loads(SNAPSHOT.read_text()), (
        "the synthesized resources changed; if intended, update the snapshot "
        "(CLOUDPERF_UPDATE_SNAPSHOT=1) and review the diff"
    )
