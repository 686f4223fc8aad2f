#!/usr/bin/env python3
"""The CDK app (cdk.json runs it): ``cdk synth``, ``cdk deploy``. See README.md here."""

from cloudperf_infra.app import build_app

build_app().synth()
