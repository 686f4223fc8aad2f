"""The probe stack: outbound-only instances that run the agent under systemd."""

from __future__ import annotations

import ast
import shlex
import shutil
import subprocess
from typing import Any

import pytest

from cloudperf_infra.probe_stack import UBUNTU_ARM64_AMI
from cloudperf_infra.probe_userdata import ProbeBoot, render

from conftest import Synthesized, resources


def _user_data_text(raw: dict[str, Any]) -> str:
    """The rendered user data with CloudFormation tokens replaced by placeholders."""
    ((_, template),) = resources(raw, "AWS::EC2::LaunchTemplate")
    parts = template["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "TOKEN" for p in parts)


def test_instances_are_arm64_ubuntu_imdsv2_encrypted_and_public_outbound(
    synthesized: Synthesized,
) -> None:
    raw = synthesized.raw["Probe"]
    ((_, template),) = resources(raw, "AWS::EC2::LaunchTemplate")
    data = template["LaunchTemplateData"]
    assert data["InstanceType"] == "t4g.micro"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    (volume,) = data["BlockDeviceMappings"]
    assert volume["Ebs"]["Encrypted"] is True
    assert volume["Ebs"]["VolumeType"] == "gp3"
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is True
    assert "KeyName" not in data, "no SSH key by default"
    image_param = data["ImageId"]["Ref"]
    assert raw["Parameters"][image_param]["Default"] == UBUNTU_ARM64_AMI
    ((_, group),) = resources(raw, "AWS::AutoScaling::AutoScalingGroup")
    assert (group["MinSize"], group["MaxSize"]) == ("1", "1")
    assert not list(resources(raw, "AWS::EC2::NatGateway"))


def test_security_group_is_outbound_only_unless_ssh_is_asked_for(
    synthesized: Synthesized,
) -> None:
    ((_, sg),) = (
        (i, p)
        for i, p in resources(synthesized.raw["Probe"], "AWS::EC2::SecurityGroup")
        if "outbound only" in p["GroupDescription"]
    )
    assert not sg.get("SecurityGroupIngress")
    egress = sorted((r["IpProtocol"], r.get("FromPort")) for r in sg["SecurityGroupEgress"])
    assert egress == [("icmp", -1), ("tcp", 80), ("tcp", 443)]
    ssh = synthesized.raw["ProbeSsh"]
    ((_, ssh_sg),) = (
        (i, p)
        for i, p in resources(ssh, "AWS::EC2::SecurityGroup")
        if "outbound only" in p["GroupDescription"]
    )
    assert [(r["CidrIp"], r["FromPort"]) for r in ssh_sg["SecurityGroupIngress"]] == [
        ("198.51.100.0/24", 22)
    ]
    ((_, template),) = resources(ssh, "AWS::EC2::LaunchTemplate")
    assert template["LaunchTemplateData"]["KeyName"] == "ops-key"
    ((_, group),) = resources(ssh, "AWS::AutoScaling::AutoScalingGroup")
    assert (group["MinSize"], group["MaxSize"]) == ("3", "3")


def test_role_reads_only_its_token_and_the_wheel(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Probe"]
    (role_id,) = (
        i
        for i, p in resources(raw, "AWS::IAM::Role")
        if p["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "ec2.amazonaws.com"}
    )
    statements = [
        s
        for _, p in resources(raw, "AWS::IAM::Policy")
        if {"Ref": role_id} in p["Roles"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    actions = sorted(a for s in statements for a in _actions(s))
    assert actions == [
        "s3:GetObject",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
    ]
    secret = next(s for s in statements if "secretsmanager:GetSecretValue" in _actions(s))
    # Secrets Manager appends a random 6-character suffix to the ARN of a named secret.
    assert secret["Resource"]["Fn::Join"][1][-1].endswith(
        ":secret:cloudperf/probe/probe-eu-west-1-??????"
    )
    wheel = next(s for s in statements if _actions(s) == ["s3:GetObject"])
    assert wheel["Resource"]["Fn::Join"][1][-1].endswith(".whl"), "one object, not the bucket"
    assert not list(resources(raw, "AWS::SecretsManager::Secret")), "the operator creates it"


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_user_data_installs_fping_with_cap_net_raw_and_starts_the_agent(
    synthesized: Synthesized,
) -> None:
    text = _user_data_text(synthesized.raw["Probe"])
    assert "apt-get install -y -q fping python3-venv" in text
    assert "setcap cap_net_raw+ep /usr/bin/fping" in text
    assert (
        "ExecStart=/opt/cloudperf/bin/cloudperf probe --api https://api.example.com "
        "--token-file /run/cloudperf/token" in text
    )
    assert "ExecStartPre=/opt/cloudperf/bin/cloudperf-fetch-token /run/cloudperf/token" in text
    assert "SecretId='cloudperf/probe/probe-eu-west-1'" in text
    assert "User=cloudperf" in text
    assert "systemctl enable --now cloudperf-probe.service" in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is needed to check the script")
def test_user_data_is_valid_bash_and_python(tmp_path: Any) -> None:
    lines = render(
        ProbeBoot(
            api_url="https://api.example.com",
            region="eu-west-1",
            wheel_bucket="cdk-assets-bucket",
            wheel_key="0123abcd.whl",
            wheel_name="cloudperf-0.1.0-py3-none-any.whl",
            token_secret_name="cloudperf/probe/lab",
        )
    )
    script = tmp_path / "user-data.sh"
    script.write_text("#!/bin/bash\n" + "\n".join(lines) + "\n")
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    # The token helper written by the heredoc is valid Python.
    text = script.read_text()
    helper = text.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(helper, "cloudperf-fetch-token", "exec")
    # The wheel download, as bash will pass it to Python.
    argv = shlex.split(next(line for line in lines if "download_file" in line))
    assert argv[:2] == ["/opt/cloudperf/bin/python", "-c"]
    call = next(
        node
        for node in ast.walk(ast.parse(argv[2]))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "download_file"
    )
    assert [ast.literal_eval(arg) for arg in call.args] == [
        "cdk-assets-bucket",
        "0123abcd.whl",
        "/opt/cloudperf/cloudperf-0.1.0-py3-none-any.whl",
    ]
