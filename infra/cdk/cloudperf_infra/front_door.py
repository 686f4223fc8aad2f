"""The public entrance to the API function: an ALB with HTTPS, or an API Gateway HTTP API.

Probe tokens and session tokens travel in headers, so the entrance is HTTPS:
- with a certificate (``certificateArn``, or one DNS-validated from ``hostedZoneId``): an ALB,
  HTTPS on 443 with a current TLS policy, HTTP on 80 only redirects to HTTPS;
- without one: an API Gateway HTTP API, HTTPS on its own ``execute-api`` domain;
- plain HTTP (an ALB on port 80 forwarding) only with ``allowInsecureHttp=true``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as elb_targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cloudperf_infra.config import MainConfig
from cloudperf_infra.logs import log_group
from cloudperf_infra.nag import acknowledge
from cloudperf_infra.network import Network

_FIVE_MIN = Duration.minutes(5)


class AlbFrontDoor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MainConfig,
        network: Network,
        api: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        sg = ec2.SecurityGroup(
            self, "Sg", vpc=network.vpc, description="cloudperf ALB: HTTPS (and the redirect)"
        )
        ports = [ec2.Port.HTTPS, ec2.Port.HTTP] if config.https else [ec2.Port.HTTP]
        for port in ports:
            sg.add_ingress_rule(ec2.Peer.any_ipv4(), port, "public API")
        acknowledge(
            sg,
            "AwsSolutions-EC23",
            "The public entrance of the API: probes and users connect from anywhere; the API "
            "authenticates every request with a bearer token.",
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=network.vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=sg,
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(_access_log_bucket(self))

        if config.https:
            certificate = self._certificate(config)
            listener = self.alb.add_listener(
                "Https",
                port=443,
                certificates=[certificate],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
            self.url = f"https://{config.domain_name}"
        else:
            listener = self.alb.add_listener("Http", port=80)
            self.url = f"http://{self.alb.load_balancer_dns_name}"
        listener.add_targets("Api", targets=[elb_targets.LambdaTarget(api)])
        self.metric_5xx: cloudwatch.IMetric = cloudwatch.MathExpression(
            expression="FILL(elb, 0) + FILL(target, 0)",
            using_metrics={
                "elb": self.alb.metrics.http_code_elb(
                    elbv2.HttpCodeElb.ELB_5XX_COUNT, period=_FIVE_MIN
                ),
                "target": self.alb.metrics.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=_FIVE_MIN
                ),
            },
            label="ALB and API 5xx",
            period=_FIVE_MIN,
        )

    def _certificate(self, config: MainConfig) -> elbv2.IListenerCertificate:
        if config.certificate_arn:
            return elbv2.ListenerCertificate.from_arn(config.certificate_arn)
        assert config.hosted_zone_id and config.hosted_zone_name and config.domain_name
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
        )
        cert = acm.Certificate(
            self,
            "Certificate",
            domain_name=config.domain_name,
            validation=acm.CertificateValidation.from_dns(zone),
        )
        route53.ARecord(
            self,
            "Alias",
            zone=zone,
            record_name=config.domain_name,
            target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(self.alb)),
        )
        return elbv2.ListenerCertificate.from_certificate_manager(cert)


def _access_log_bucket(scope: Construct) -> s3.Bucket:
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,  # the only kind ALB log delivery supports
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        "This bucket holds the ALB's access logs; logging access to the log bucket itself "
        "would need yet another bucket.",
    )
    return bucket


class HttpApiFrontDoor(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MainConfig, api: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="cloudperf API",
            default_integration=integrations.HttpLambdaIntegration(
                "Api", api, payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0
            ),
        )
        access_logs = log_group(self, "AccessLogs", config.log_retention_days)
        stage = self.http_api.default_stage
        assert stage is not None  # created by default
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format=(
                '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                '"time":"$context.requestTime","method":"$context.httpMethod",'
                '"path":"$context.path","status":"$context.status",'
                '"latencyMs":"$context.responseLatency",'
                '"error":"$context.integrationErrorMessage"}'
            ),
        )
        acknowledge(
            self.http_api,
            "AwsSolutions-APIG4",
            "Authorization is the API's own: probe bearer tokens and user sessions, checked by "
            "the function on every request (API Gateway authorizers cannot see the probe table).",
        )
        self.url = self.http_api.api_endpoint
        self.metric_5xx: cloudwatch.IMetric = self.http_api.metric_server_error(period=_FIVE_MIN)
