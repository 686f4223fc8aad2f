"""Synthesis fixtures: every configuration under test lives in one App, synthesized once per
session with the cdk-nag AwsSolutions checks as a validation plugin (a finding fails synth).

The stacks' Lambda code is a pair of small placeholder zips and a placeholder wheel: a
template only records an asset's hash, so synthesis needs the files, not their contents. The
real bundle is built and tested in test_bundle.py.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CDK_DIR = Path(__file__).resolve().parents[1]
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

pytest.importorskip("aws_cdk", reason="the infra extra is not installed (pip install -e .[infra])")

from aws_cdk import App, Environment  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from cloudperf_infra.config import MainConfig, ProbeConfig  # noqa: E402
from cloudperf_infra.main_stack import MainStack  # noqa: E402
from cloudperf_infra.nag import add_checks  # noqa: E402
from cloudperf_infra.probe_stack import ProbeStack  # noqa: E402

REGION = "eu-west-1"
CERT_ARN = "arn:aws:acm:eu-west-1:111122223333:certificate/0b4b1b4e-example"
# Each main-stack configuration under test: stack id -> CDK context.
MAIN_VARIANTS: dict[str, dict[str, Any]] = {
    # Defaults: no certificate, so an API Gateway HTTP API in front.
    "Default": {},
    # An ALB with a certificate by ARN, everything optional switched the other way.
    "Alb": {
        "certificateArn": CERT_ARN,
        "domainName": "api.example.com",
        "alarmEmail": "ops@example.com",
        "vpcEndpoints": "true",
        "cacheEngine": "redis",
        "dbReader": "false",
        "lambdaArchitecture": "x86_64",
        "workerBatchSize": "50",
        "workerMaxConcurrency": "3",
    },
    # An ALB with a certificate validated through a Route 53 zone, and an alias record.
    "AlbDns": {
        "hostedZoneId": "Z0123456789EXAMPLE",
        "hostedZoneName": "example.com",
        "domainName": "cloudperf.example.com",
    },
    # Plain HTTP, explicitly; no NAT (endpoints instead); a database that may be deleted.
    "Insecure": {
        "allowInsecureHttp": "true",
        "natGateways": "0",
        "vpcEndpoints": "true",
        "dbDeletionProtection": "false",
        "dbMinAcu": "0",
    },
}
PROBE_VARIANTS: dict[str, dict[str, Any]] = {
    "Probe": {"apiUrl": "https://api.example.com"},
    "ProbeSsh": {
        "apiUrl": "https://api.example.com",
        "probeName": "lab",
        "probeCount": "3",
        "probeSshCidr": "198.51.100.0/24",
        "probeKeyName": "ops-key",
    },
}


@dataclass
class Synthesized:
    templates: dict[str, Template]
    raw: dict[str, dict[str, Any]]
    synth_s: float


def placeholder_bundle(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("layer.zip", "function.zip"):
        with zipfile.ZipFile(directory / name, "w") as zf:
            zf.writestr("README", f"placeholder {name} for synthesis tests\n")
    (directory / "cloudperf-0.1.0-py3-none-any.whl").write_bytes(b"placeholder wheel\n")
    return directory


def context_getter(context: dict[str, Any]) -> Any:
    return lambda key: context.get(key)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return placeholder_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def synthesized(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    import json
    import time

    started = time.perf_counter()
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    env = Environment(region=REGION)
    for name, context in MAIN_VARIANTS.items():
        get = context_getter({"bundleDir": str(bundle_dir), **context})
        MainStack(app, name, config=MainConfig.from_context(get), env=env)
    wheel = next(bundle_dir.glob("*.whl"))
    for name, context in PROBE_VARIANTS.items():
        config = ProbeConfig.for_region(context_getter(context), REGION, wheel)
        ProbeStack(app, name, config=config, env=env)
    add_checks(app)
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged finding
    raw = {
        name: json.loads(Path(assembly.get_stack_by_name(name).template_full_path).read_text())
        for name in (*MAIN_VARIANTS, *PROBE_VARIANTS)
    }
    templates = {name: Template.from_json(t) for name, t in raw.items()}
    return Synthesized(templates, raw, time.perf_counter() - started)


@pytest.fixture(scope="session")
def default(synthesized: Synthesized) -> Template:
    return synthesized.templates["Default"]


@pytest.fixture(scope="session")
def alb(synthesized: Synthesized) -> Template:
    return synthesized.templates["Alb"]


def resources(raw: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in raw["Resources"].items():
        if resource["Type"] == kind:
            yield logical_id, resource.get("Properties", {})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CDK_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.infra)
