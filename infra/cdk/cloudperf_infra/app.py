"""Which stacks the app holds: the main stack, plus one probe stack per ``probeRegions`` entry.

cdk deploy Cloudperf                                   # the main stack
cdk deploy -c apiUrl=https://api.example.com -c probeRegions=ap-southeast-2 --all
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment

from cloudperf_infra.config import InfraConfigError, MainConfig, ProbeConfig
from cloudperf_infra.main_stack import MainStack
from cloudperf_infra.nag import add_checks
from cloudperf_infra.probe_stack import ProbeStack

MAIN_STACK = "Cloudperf"


def probe_stack_name(region: str) -> str:
    return f"CloudperfProbe-{region}"


def build_app(app: App | None = None) -> App:
    """Add the stacks that the context asks for to ``app`` (a new App by default)."""
    app = app or App()
    get = app.node.try_get_context
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    config = MainConfig.from_context(get)
    if config.front_door == "alb" and not region:
        raise InfraConfigError(
            "the ALB's access logs need the stack's region: run through the cdk CLI (it sets "
            "CDK_DEFAULT_REGION from your profile) or export CDK_DEFAULT_REGION"
        )
    MainStack(
        app,
        MAIN_STACK,
        config=config,
        env=Environment(account=account, region=region),
        description="cloudperf: API, worker, scheduler, Aurora, ElastiCache (infra/cdk)",
    )
    regions = [r.strip() for r in str(get("probeRegions") or "").split(",") if r.strip()]
    if len(regions) > 1 and get("probeName"):
        raise InfraConfigError("probeName names one probe: use it with a single probeRegions entry")
    for region in regions:
        wheels = sorted(config.bundle_dir.glob("cloudperf-*.whl"))
        if not wheels:
            raise InfraConfigError(
                f"no cloudperf wheel in {config.bundle_dir}: run scripts/build-lambda first"
            )
        ProbeStack(
            app,
            probe_stack_name(region),
            config=ProbeConfig.for_region(get, region, wheels[-1]),
            env=Environment(account=account, region=region),
            description=f"cloudperf probe in {region} (infra/cdk)",
        )
    add_checks(app)
    return app
