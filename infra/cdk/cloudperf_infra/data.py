"""Aurora Serverless v2 (MySQL 8) for the store and catalogue; ElastiCache Serverless for
jobs, cache and sessions. Both private, encrypted, reachable only from the functions."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from cloudperf_infra.config import MainConfig
from cloudperf_infra.logs import retention
from cloudperf_infra.nag import acknowledge
from cloudperf_infra.network import Network

AURORA_VERSION = rds.AuroraMysqlEngineVersion.VER_3_10_0  # MySQL 8.0.42-compatible, LTS
DB_USER = "cloudperf"
# ElastiCache Serverless is cluster-mode: keys of one multi-key command must share a hash
# slot, so every key carries the same hash tag.
CACHE_KEY_PREFIX = "{cloudperf}:"
LOG_EXPORTS = ("audit", "error", "slowquery")
_CACHE_VERSION = {"valkey": "8", "redis": "7"}


class Database(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MainConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=rds.DatabaseClusterEngine.aurora_mysql(version=AURORA_VERSION),
            description="cloudperf: audit log of connections and DDL/DCL",
            # require_secure_transport stays off: the mysql:// adapter has no TLS option yet;
            # the traffic never leaves the private subnets.
            parameters={
                "server_audit_logging": "1",
                "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
            },
        )
        # The cluster's name is fixed so that its log groups can exist before it does, with
        # their retention (otherwise RDS creates them, forever, and CDK would need a custom
        # resource Lambda to set the retention afterwards).
        self.identifier = f"{Stack.of(self).stack_name.lower()}-db"
        log_groups = [
            logs.LogGroup(
                self,
                f"{kind.capitalize()}Logs",
                log_group_name=f"/aws/rds/cluster/{self.identifier}/{kind}",
                retention=retention(config.log_retention_days),
                removal_policy=RemovalPolicy.RETAIN,
            )
            for kind in LOG_EXPORTS
        ]
        readers = (
            [rds.ClusterInstance.serverless_v2("Reader", scale_with_writer=True)]
            if config.db_reader
            else []
        )
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=rds.DatabaseClusterEngine.aurora_mysql(version=AURORA_VERSION),
            credentials=rds.Credentials.from_generated_secret(DB_USER),
            default_database_name=config.db_name,
            writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=False),
            readers=readers,
            serverless_v2_min_capacity=config.db_min_acu,
            serverless_v2_max_capacity=config.db_max_acu,
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[network.database_sg],
            parameter_group=parameters,
            storage_encrypted=True,
            deletion_protection=config.db_deletion_protection,
            backup=rds.BackupProps(retention=Duration.days(config.db_backup_days)),
            cluster_identifier=self.identifier,
            cloudwatch_logs_exports=list(LOG_EXPORTS),
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        for group in log_groups:
            self.cluster.node.add_dependency(group)
        assert self.cluster.secret is not None  # generated above
        self.secret = self.cluster.secret
        acknowledge(
            self.cluster,
            "AwsSolutions-SMG4",
            "The functions build their connection pool from this secret once per container; "
            "rotating it would break warm pools until they recycle. Rotate by hand with a "
            "deploy window (README: upgrade).",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-RDS6",
            "Password authentication with credentials from Secrets Manager; IAM tokens would "
            "need a freshly signed token for every new connection in every function.",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-RDS11",
            "The standard MySQL port 3306; only the functions' security group can reach it.",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-RDS14",
            "Backtrack is not available for Aurora Serverless v2; recovery is by point-in-time "
            "restore from the automated backups.",
        )
        if not config.db_deletion_protection:
            acknowledge(
                self.cluster,
                "AwsSolutions-RDS10",
                "Deletion protection was switched off explicitly (dbDeletionProtection=false), "
                "e.g. for a test deployment that is torn down.",
            )


class Cache(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MainConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        name = f"{Stack.of(self).stack_name.lower()}-cache"[:40]
        self.cache = elasticache.CfnServerlessCache(
            self,
            "Serverless",
            serverless_cache_name=name,
            engine=config.cache_engine,
            major_engine_version=_CACHE_VERSION[config.cache_engine],
            description="cloudperf jobs, cache, sessions (TLS, encrypted at rest)",
            security_group_ids=[network.cache_sg.security_group_id],
            subnet_ids=network.vpc.select_subnets(
                subnet_type=network.private_subnets.subnet_type
            ).subnet_ids,
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    unit="GB", maximum=config.cache_max_data_gb
                )
            ),
        )

    @property
    def url(self) -> str:
        """The cache URL for the functions: TLS (``rediss``), db 0, one hash slot."""
        return (
            f"rediss://{self.cache.attr_endpoint_address}:{self.cache.attr_endpoint_port}/0"
            f"?prefix={CACHE_KEY_PREFIX}"
        )
