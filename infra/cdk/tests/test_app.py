"""The app entry (what `cdk synth` runs): which stacks the context asks for."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App, Stack

from cloudperf_infra.app import MAIN_STACK, build_app, probe_stack_name
from cloudperf_infra.config import InfraConfigError


def _stacks(app: App) -> list[str]:
    return sorted(c.node.id for c in app.node.children if isinstance(c, Stack))


def test_main_stack_plus_one_probe_stack_per_region(
    bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app = build_app(
        App(
            context={
                "bundleDir": str(bundle_dir),
                "apiUrl": "https://api.example.com",
                "probeRegions": "ap-southeast-2, sa-east-1",
            }
        )
    )
    assert _stacks(app) == sorted(
        [MAIN_STACK, probe_stack_name("ap-southeast-2"), probe_stack_name("sa-east-1")]
    )
    probe = next(c for c in app.node.children if c.node.id == probe_stack_name("sa-east-1"))
    assert isinstance(probe, Stack) and probe.region == "sa-east-1"


@pytest.mark.parametrize(
    ("context", "region", "complaint"),
    [
        ({"bundleDir": "/nonexistent"}, "eu-west-1", "build it first with `scripts/build-lambda"),
        (
            {"probeRegions": "eu-west-1,us-east-1", "probeName": "x", "apiUrl": "https://a.b"},
            "eu-west-1",
            "probeName names one probe",
        ),
        (
            {"certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x", "domainName": "a.b.c"},
            None,
            "need the stack's region",
        ),
    ],
)
def test_the_app_explains_what_is_missing(
    context: dict[str, str],
    region: str | None,
    complaint: str,
    bundle_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if region:
        monkeypatch.setenv("CDK_DEFAULT_REGION", region)
    else:
        monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(InfraConfigError, match=complaint):
        build_app(App(context={"bundleDir": str(bundle_dir), **context}))
