"""A probe stack for any region: N small arm64 instances running ``cloudperf probe``.

Its own small VPC (public subnets, no NAT: the instances have public addresses and an
outbound-only security group: ICMP for fping, HTTPS for the API and AWS, HTTP for the Ubuntu
archive). No SSH unless ``probeSshCidr`` and ``probeKeyName`` are given. The probe token is
read from Secrets Manager (``probeTokenSecretName``, in this region) each time the agent
starts. Instances of one stack share one probe identity and split its jobs.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Stack, Tags
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cloudperf_infra.config import ProbeConfig
from cloudperf_infra.logs import log_group
from cloudperf_infra.nag import acknowledge
from cloudperf_infra.probe_userdata import ProbeBoot, render

# Canonical's public SSM parameter for the current Ubuntu 24.04 arm64 AMI in every region.
UBUNTU_ARM64_AMI = (
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
)
ROOT_VOLUME_GB = 8


class ProbeStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: ProbeConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "cloudperf")
        Tags.of(self).add("cloudperf-probe", config.probe_name)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)
            ],
            restrict_default_security_group=True,
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                log_group(self, "FlowLogGroup", config.log_retention_days)
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        sg = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=vpc,
            description="cloudperf probe: outbound only",
            allow_all_outbound=False,
        )
        sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.all_icmp(), "fping probes")
        sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.HTTPS, "API, AWS APIs, PyPI")
        sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.HTTP, "Ubuntu package archive")
        if config.ssh_cidr:
            sg.add_ingress_rule(ec2.Peer.ipv4(config.ssh_cidr), ec2.Port.SSH, "SSH (opt-in)")

        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"cloudperf probe {config.probe_name}",
        )
        token = secretsmanager.Secret.from_secret_name_v2(self, "Token", config.token_secret_name)
        token.grant_read(role)  # the ARN with Secrets Manager's random suffix, as '-??????'
        wheel = s3_assets.Asset(self, "Wheel", path=str(config.wheel))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[wheel.bucket.arn_for_objects(wheel.s3_object_key)],
            )
        )

        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            *render(
                ProbeBoot(
                    api_url=config.api_url,
                    region=Aws.REGION,
                    wheel_bucket=wheel.s3_bucket_name,
                    wheel_key=wheel.s3_object_key,
                    wheel_name=config.wheel.name,
                    token_secret_name=config.token_secret_name,
                )
            )
        )
        template = ec2.LaunchTemplate(
            self,
            "Template",
            instance_type=ec2.InstanceType(config.instance_type),
            machine_image=ec2.MachineImage.from_ssm_parameter(
                UBUNTU_ARM64_AMI, os=ec2.OperatingSystemType.LINUX
            ),
            user_data=user_data,
            role=role,
            security_group=sg,
            require_imdsv2=True,
            associate_public_ip_address=True,
            key_pair=(
                ec2.KeyPair.from_key_pair_name(self, "Key", config.key_name)
                if config.key_name
                else None
            ),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/sda1",
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        self.group = autoscaling.AutoScalingGroup(
            self,
            "Probes",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            launch_template=template,
            min_capacity=config.instance_count,
            max_capacity=config.instance_count,
            # A new wheel or setting changes the launch template: replace instances one by one.
            update_policy=autoscaling.UpdatePolicy.rolling_update(),
        )
        acknowledge(
            self.group,
            "AwsSolutions-AS3",
            "A fixed-size group that only replaces failed instances by itself; notifications "
            "would report just those replacements. A silent probe shows in the API's liveness.",
        )
