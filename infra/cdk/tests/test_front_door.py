"""The public entrance: HTTPS by default, plain HTTP only when asked for; and the settings
that are refused before anything is synthesized."""

from __future__ import annotations

from typing import Any

import pytest

from cloudperf_infra.config import InfraConfigError, MainConfig, ProbeConfig

from conftest import CERT_ARN, Synthesized, context_getter, resources


def _listeners(raw: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["Port"]: p for _, p in resources(raw, "AWS::ElasticLoadBalancingV2::Listener")}


def test_alb_serves_https_with_the_certificate_and_redirects_http(
    synthesized: Synthesized,
) -> None:
    raw = synthesized.raw["Alb"]
    listeners = _listeners(raw)
    assert sorted(listeners) == [80, 443]
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": CERT_ARN}]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["DefaultActions"][0]["Type"] == "forward"
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    ((_, lb),) = resources(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert lb["Scheme"] == "internet-facing"
    attributes = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    ((_, target_group),) = resources(raw, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["TargetType"] == "lambda"
    ((_, bucket),) = resources(raw, "AWS::S3::Bucket")
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert "ServerSideEncryptionConfiguration" in bucket["BucketEncryption"]
    assert not list(resources(raw, "AWS::ApiGatewayV2::Api"))


def test_alb_with_a_hosted_zone_gets_a_dns_validated_certificate_and_alias(
    synthesized: Synthesized,
) -> None:
    raw = synthesized.raw["AlbDns"]
    ((cert_id, cert),) = resources(raw, "AWS::CertificateManager::Certificate")
    assert cert["DomainName"] == "cloudperf.example.com"
    assert cert["ValidationMethod"] == "DNS"
    assert cert["DomainValidationOptions"][0]["HostedZoneId"] == "Z0123456789EXAMPLE"
    assert _listeners(raw)[443]["Certificates"] == [{"CertificateArn": {"Ref": cert_id}}]
    ((_, record),) = resources(raw, "AWS::Route53::RecordSet")
    assert (record["Name"], record["Type"]) == ("cloudperf.example.com.", "A")
    assert "AliasTarget" in record
    assert raw["Outputs"]["ApiUrl"]["Value"] == "https://cloudperf.example.com"


def test_without_a_certificate_the_api_is_an_https_http_api(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Default"]
    assert not list(resources(raw, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    ((api_id, api),) = resources(raw, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"
    ((_, integration),) = resources(raw, "AWS::ApiGatewayV2::Integration")
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == (
        "AWS_PROXY",
        "2.0",
    )
    ((_, stage),) = resources(raw, "AWS::ApiGatewayV2::Stage")
    assert "DestinationArn" in stage["AccessLogSettings"]
    # ApiEndpoint is https://ID.execute-api.REGION.amazonaws.com
    assert raw["Outputs"]["ApiUrl"]["Value"] == {"Fn::GetAtt": [api_id, "ApiEndpoint"]}


def test_plain_http_only_when_explicitly_allowed(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Insecure"]
    listeners = _listeners(raw)
    assert list(listeners) == [80]
    assert listeners[80]["Protocol"] == "HTTP"
    assert listeners[80]["DefaultActions"][0]["Type"] == "forward"
    url = raw["Outputs"]["ApiUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "http://"


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({"certificateArn": CERT_ARN}, "certificateArn needs domainName"),
        ({"domainName": "api.example.com"}, "domainName needs certificateArn"),
        ({"hostedZoneId": "Z1", "domainName": "a.example.com"}, "needs hostedZoneName"),
        (
            {"certificateArn": CERT_ARN, "domainName": "a.example.com", "allowInsecureHttp": "1"},
            "allowInsecureHttp makes no sense",
        ),
        ({"natGateways": "0"}, "natGateways=0 needs vpcEndpoints=true"),
        ({"dbMinAcu": "8", "dbMaxAcu": "4"}, "dbMinAcu must not exceed dbMaxAcu"),
        ({"dbMinAcu": "0", "dbConnectTimeoutS": "5"}, "dbConnectTimeoutS must be above 15"),
        ({"workerMaxConcurrency": "1"}, "workerMaxConcurrency: must be >= 2"),
        ({"logRetentionDays": "10"}, "logRetentionDays must be one of"),
        ({"dbReader": "maybe"}, "dbReader: expected true or false"),
        ({"cacheEngine": "memcached"}, "cacheEngine: expected one of valkey, redis"),
        ({"natGateways": "two"}, "natGateways: expected a number"),
    ],
)
def test_unsafe_or_broken_settings_are_refused(context: dict[str, str], complaint: str) -> None:
    with pytest.raises(InfraConfigError, match=complaint):
        MainConfig.from_context(context_getter(context))


def test_defaults_are_the_documented_ones() -> None:
    config = MainConfig.from_context(context_getter({}))
    assert config.front_door == "http-api"
    assert (config.nat_gateways, config.vpc_endpoints, config.architecture) == (1, False, "arm64")
    assert (config.db_min_acu, config.db_max_acu, config.db_reader) == (0.5, 4.0, True)
    assert config.db_deletion_protection is True
    assert config.cache_engine == "valkey"
    assert config.schedule_rate_minutes == 1
    assert config.queue_visibility_s == 6 * config.worker_timeout_s + 5


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({}, "needs apiUrl"),
        ({"apiUrl": "http://api.example.com"}, "must be https://"),
        ({"apiUrl": "https://a.example.com", "probeSshCidr": "198.51.100.0/24"}, "needs both"),
    ],
)
def test_probe_settings_are_checked(
    context: dict[str, str], complaint: str, bundle_dir: Any
) -> None:
    wheel = next(bundle_dir.glob("*.whl"))
    with pytest.raises(InfraConfigError, match=complaint):
        ProbeConfig.for_region(context_getter(context), "eu-west-1", wheel)
