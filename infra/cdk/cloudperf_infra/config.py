"""Deployment settings from CDK context (``-c key=value`` or cdk.json), with defaults.

Every key, its default and its meaning is listed in ``infra/cdk/README.md``; the defaults live
here only. Values from the command line arrive as strings, values from cdk.json as JSON types:
both are accepted. A wrong value is an :class:`InfraConfigError` that names the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from cloudperf_core.errors import CloudperfError

ContextGetter = Callable[[str], object]
Arch = Literal["arm64", "x86_64"]
CacheEngine = Literal["valkey", "redis"]
T = TypeVar("T")

CDK_DIR = Path(__file__).resolve().parents[1]
# The log retention periods CloudWatch accepts (days).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


class InfraConfigError(CloudperfError):
    """A CDK context value is missing, malformed or inconsistent with another one."""


def _text(get: ContextGetter, key: str, default: str | None = None) -> str | None:
    value = get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str | int | float):
        raise InfraConfigError(f"context {key}: expected text, got {value!r}")
    return str(value)


def _flag(get: ContextGetter, key: str, default: bool) -> bool:
    value = get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InfraConfigError(f"context {key}: expected true or false, got {value!r}")


def _number(get: ContextGetter, key: str, default: T, kind: Callable[[str], T], low: float) -> T:
    value = get(key)
    if value is None or value == "":
        return default
    try:
        number = kind(str(value))
    except ValueError:
        raise InfraConfigError(f"context {key}: expected a number, got {value!r}") from None
    if float(number) < low:  # type: ignore[arg-type]
        raise InfraConfigError(f"context {key}: must be >= {low}, got {number}")
    return number


def _choice(get: ContextGetter, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_text(get, key) or default).lower()
    if value not in choices:
        raise InfraConfigError(f"context {key}: expected one of {', '.join(choices)}, got {value}")
    return value


@dataclass(frozen=True)
class MainConfig:
    """Settings of the main (serverless) stack; README "Context keys" documents each."""

    architecture: Arch = "arm64"
    bundle_dir: Path = field(default_factory=lambda: CDK_DIR / "build" / "lambda-arm64")
    nat_gateways: int = 1
    vpc_endpoints: bool = False
    certificate_arn: str | None = None
    domain_name: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    allow_insecure_http: bool = False
    db_min_acu: float = 0.5
    db_max_acu: float = 4.0
    db_reader: bool = True
    db_deletion_protection: bool = True
    db_backup_days: int = 7
    db_name: str = "cloudperf"
    db_pool_size: int = 2
    db_connect_timeout_s: int = 20
    cache_engine: CacheEngine = "valkey"
    cache_max_data_gb: int = 5
    worker_batch_size: int = 10
    worker_batching_window_s: int = 5
    worker_max_concurrency: int = 5
    worker_timeout_s: int = 60
    worker_memory_mb: int = 1024
    api_memory_mb: int = 1024
    schedule_rate_minutes: int = 1
    alarm_email: str | None = None
    log_retention_days: int = 30

    @property
    def front_door(self) -> Literal["alb", "http-api"]:
        """ALB when there is a certificate (or plain HTTP was asked for), else HTTP API."""
        if self.certificate_arn or self.hosted_zone_id or self.allow_insecure_http:
            return "alb"
        return "http-api"

    @property
    def https(self) -> bool:
        return bool(self.certificate_arn or self.hosted_zone_id)

    @classmethod
    def from_context(cls, get: ContextGetter) -> MainConfig:
        arch = _choice(get, "lambdaArchitecture", "arm64", ("arm64", "x86_64"))
        bundle = _text(get, "bundleDir")
        cfg = cls(
            architecture="arm64" if arch == "arm64" else "x86_64",
            bundle_dir=(
                (CDK_DIR / bundle).resolve() if bundle else CDK_DIR / "build" / f"lambda-{arch}"
            ),
            nat_gateways=_number(get, "natGateways", 1, int, 0),
            vpc_endpoints=_flag(get, "vpcEndpoints", False),
            certificate_arn=_text(get, "certificateArn"),
            domain_name=_text(get, "domainName"),
            hosted_zone_id=_text(get, "hostedZoneId"),
            hosted_zone_name=_text(get, "hostedZoneName"),
            allow_insecure_http=_flag(get, "allowInsecureHttp", False),
            db_min_acu=_number(get, "dbMinAcu", 0.5, float, 0),
            db_max_acu=_number(get, "dbMaxAcu", 4.0, float, 1),
            db_reader=_flag(get, "dbReader", True),
            db_deletion_protection=_flag(get, "dbDeletionProtection", True),
            db_backup_days=_number(get, "dbBackupDays", 7, int, 1),
            db_name=_text(get, "dbName", "cloudperf") or "cloudperf",
            db_pool_size=_number(get, "dbPoolSize", 2, int, 1),
            db_connect_timeout_s=_number(get, "dbConnectTimeoutS", 20, int, 1),
            cache_engine="redis"
            if _choice(get, "cacheEngine", "valkey", ("valkey", "redis")) == "redis"
            else "valkey",
            cache_max_data_gb=_number(get, "cacheMaxDataGb", 5, int, 1),
            worker_batch_size=_number(get, "workerBatchSize", 10, int, 1),
            worker_batching_window_s=_number(get, "workerBatchingWindowS", 5, int, 0),
            worker_max_concurrency=_number(get, "workerMaxConcurrency", 5, int, 2),
            worker_timeout_s=_number(get, "workerTimeoutS", 60, int, 1),
            worker_memory_mb=_number(get, "workerMemoryMb", 1024, int, 128),
            api_memory_mb=_number(get, "apiMemoryMb", 1024, int, 128),
            schedule_rate_minutes=_number(get, "scheduleRateMinutes", 1, int, 1),
            alarm_email=_text(get, "alarmEmail"),
            log_retention_days=_number(get, "logRetentionDays", 30, int, 1),
        )
        cfg.check()
        return cfg

    def check(self) -> None:
        """Refuse combinations that would deploy something unsafe or broken."""
        if self.certificate_arn and not self.domain_name:
            raise InfraConfigError(
                "certificateArn needs domainName (the name on the certificate that probes "
                "and users will connect to)"
            )
        if self.hosted_zone_id and not (self.hosted_zone_name and self.domain_name):
            raise InfraConfigError("hostedZoneId needs hostedZoneName and domainName")
        if self.domain_name and not (self.certificate_arn or self.hosted_zone_id):
            raise InfraConfigError(
                "domainName needs certificateArn, or hostedZoneId + hostedZoneName to create a "
                "DNS-validated certificate"
            )
        if self.allow_insecure_http and self.https:
            raise InfraConfigError("allowInsecureHttp makes no sense with a certificate")
        if self.nat_gateways == 0 and not self.vpc_endpoints:
            raise InfraConfigError(
                "natGateways=0 needs vpcEndpoints=true (the functions must reach SQS and "
                "Secrets Manager)"
            )
        if self.db_min_acu > self.db_max_acu:
            raise InfraConfigError("dbMinAcu must not exceed dbMaxAcu")
        if self.db_min_acu == 0 and self.db_connect_timeout_s <= 15:
            raise InfraConfigError(
                "dbMinAcu=0 pauses the database; resuming takes ~15 s, so dbConnectTimeoutS "
                "must be above 15"
            )
        if self.log_retention_days not in RETENTION_DAYS:
            allowed = ", ".join(map(str, RETENTION_DAYS))
            raise InfraConfigError(f"logRetentionDays must be one of {allowed}")
        if self.worker_batch_size > 10 and self.worker_batching_window_s == 0:
            raise InfraConfigError("workerBatchSize above 10 needs workerBatchingWindowS > 0")

    @property
    def queue_visibility_s(self) -> int:
        """AWS's advice for an SQS trigger: 6x the function timeout plus the batching window."""
        return 6 * self.worker_timeout_s + self.worker_batching_window_s


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of one probe stack (one region); README "A probe in another region"."""

    region: str | None
    api_url: str
    probe_name: str
    token_secret_name: str
    wheel: Path
    instance_type: str = "t4g.micro"
    instance_count: int = 1
    ssh_cidr: str | None = None
    key_name: str | None = None
    log_retention_days: int = 30

    @classmethod
    def for_region(cls, get: ContextGetter, region: str | None, wheel: Path) -> ProbeConfig:
        api_url = _text(get, "apiUrl")
        if not api_url:
            raise InfraConfigError("a probe stack needs apiUrl (the main stack's ApiUrl output)")
        if not api_url.startswith("https://") and not _flag(get, "allowInsecureHttp", False):
            raise InfraConfigError("apiUrl must be https:// (probe tokens travel in headers)")
        name = _text(get, "probeName") or f"probe-{region or 'default'}"
        ssh_cidr, key_name = _text(get, "probeSshCidr"), _text(get, "probeKeyName")
        if bool(ssh_cidr) != bool(key_name):
            raise InfraConfigError("SSH needs both probeSshCidr and probeKeyName (off by default)")
        return cls(
            region=region,
            api_url=api_url.rstrip("/"),
            probe_name=name,
            token_secret_name=_text(get, "probeTokenSecretName") or f"cloudperf/probe/{name}",
            wheel=wheel,
            instance_type=_text(get, "probeInstanceType", "t4g.micro") or "t4g.micro",
            instance_count=_number(get, "probeCount", 1, int, 1),
            ssh_cidr=ssh_cidr,
            key_name=key_name,
            log_retention_days=_number(get, "logRetentionDays", 30, int, 1),
        )
