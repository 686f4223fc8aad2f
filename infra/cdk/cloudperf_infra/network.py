"""The VPC and the security groups: who may talk to whom, and nothing more.

Two AZs, public subnets (the ALB, the NAT gateways) and private subnets (functions, Aurora,
the cache). The functions' group may reach Aurora on 3306, the cache on 6379-6380 and HTTPS
(SQS, Secrets Manager: through the NAT or the optional interface endpoints); Aurora and the
cache accept only the functions' group. Rejected traffic is logged (VPC flow logs).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from cloudperf_infra.config import MainConfig
from cloudperf_infra.logs import log_group

MYSQL_PORT = 3306
CACHE_PORTS = (6379, 6380)  # ElastiCache Serverless: 6379 primary, 6380 reads from replicas


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: MainConfig) -> None:
        super().__init__(scope, construct_id)
        private_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS
            if config.nat_gateways > 0
            else ec2.SubnetType.PRIVATE_ISOLATED
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(name="private", subnet_type=private_type),
            ],
            restrict_default_security_group=True,
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=private_type)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                log_group(self, "FlowLogGroup", config.log_retention_days)
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        self.functions_sg = self._group("FunctionsSg", "cloudperf Lambda functions")
        self.database_sg = self._group("DatabaseSg", "cloudperf Aurora: functions only")
        self.cache_sg = self._group("CacheSg", "cloudperf ElastiCache: functions only")
        self.database_sg.add_ingress_rule(
            self.functions_sg, ec2.Port.tcp(MYSQL_PORT), "MySQL from the functions"
        )
        self.functions_sg.add_egress_rule(
            self.database_sg, ec2.Port.tcp(MYSQL_PORT), "MySQL to Aurora"
        )
        cache_ports = ec2.Port.tcp_range(*CACHE_PORTS)
        self.cache_sg.add_ingress_rule(self.functions_sg, cache_ports, "Redis from the functions")
        self.functions_sg.add_egress_rule(self.cache_sg, cache_ports, "Redis to the cache")

        if config.vpc_endpoints:
            endpoint_sg = self._group("EndpointsSg", "cloudperf VPC endpoints: functions only")
            endpoint_sg.add_ingress_rule(self.functions_sg, ec2.Port.HTTPS, "AWS APIs")
            self.functions_sg.add_egress_rule(endpoint_sg, ec2.Port.HTTPS, "VPC endpoints")
            for name, service in (
                ("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS),
                ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ):
                self.vpc.add_interface_endpoint(
                    f"{name}Endpoint",
                    service=service,
                    subnets=self.private_subnets,
                    security_groups=[endpoint_sg],
                    open=False,
                    private_dns_enabled=True,
                )
        if config.nat_gateways > 0:
            # SQS and Secrets Manager through the NAT gateway (or the endpoints, if enabled).
            self.functions_sg.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.HTTPS, "AWS APIs (SQS, Secrets Manager)"
            )

    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False
        )
