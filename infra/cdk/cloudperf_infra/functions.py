"""The four Lambda functions (api, worker, scheduler, admin) on one dependency layer.

Code: ``function.zip`` and ``layer.zip`` from ``python -m cloudperf_infra.bundle``. Each
function has its own role with only what it needs (its log group, the VPC network
interfaces Lambda creates, the database secret, and the reports queue for the API (send) and
the worker (receive)), and the same configuration by environment, read by
``cloudperf_core.bootstrap``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from cloudperf_infra.config import InfraConfigError, MainConfig
from cloudperf_infra.data import Cache, Database
from cloudperf_infra.logs import log_group
from cloudperf_infra.nag import acknowledge
from cloudperf_infra.network import Network
from cloudperf_infra.queues import ReportQueues

RUNTIME = lambda_.Runtime.PYTHON_3_12
_ARCH = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
# What Lambda needs to attach a function to the VPC; AWS documents these with Resource "*"
# (the network interfaces do not exist before the function creates them).
_VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


@dataclass(frozen=True)
class _Spec:
    name: str
    handler: str
    timeout_s: int
    memory_mb: int
    description: str


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: MainConfig,
        network: Network,
        database: Database,
        cache: Cache,
        queues: ReportQueues,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config, self._network = config, network
        layer_zip, function_zip = (
            config.bundle_dir / "layer.zip",
            config.bundle_dir / "function.zip",
        )
        if not (layer_zip.is_file() and function_zip.is_file()):
            raise InfraConfigError(
                f"no Lambda bundle in {config.bundle_dir}: build it first with "
                f"`scripts/build-lambda --arch {config.architecture}`"
            )
        self._layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(layer_zip)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[_ARCH[config.architecture]],
            description="cloudperf dependencies (built by cloudperf_infra.bundle)",
        )
        self._code = lambda_.Code.from_asset(str(function_zip))
        self._environment = {
            "POWERTOOLS_METRICS_NAMESPACE": "cloudperf",
            "CLOUDPERF_DB_SECRET_ARN": database.secret.secret_arn,
            "CLOUDPERF_DB_NAME": config.db_name,
            "CLOUDPERF_DB_OPTIONS": (
                f"pool_size={config.db_pool_size}&connect_timeout_s={config.db_connect_timeout_s}"
            ),
            "CLOUDPERF_REPORTS": (
                f"sqs://{queues.reports.queue_name}?region={Aws.REGION}"
                f"&queue_url={queues.reports.queue_url}"
            ),
            "CLOUDPERF_JOBS": cache.url,
            "CLOUDPERF_CACHE": cache.url,
        }
        # The API's timeout stays under API Gateway's 30 s and above a paused database's
        # ~15 s resume; the admin function has the most Lambda allows, for imports.
        self.api = self._function(
            _Spec("api", "lambda_entry.api.handler", 29, config.api_memory_mb, "HTTP API"),
            {"CLOUDPERF_TRUSTED_PROXY": "alb"} if config.front_door == "alb" else {},
        )
        self.worker = self._function(
            _Spec(
                "worker",
                "lambda_entry.worker.handler",
                config.worker_timeout_s,
                config.worker_memory_mb,
                "ingests reports from the reports queue",
            )
        )
        self.scheduler = self._function(
            _Spec("scheduler", "lambda_entry.scheduler.handler", 60, 512, "plans and issues jobs")
        )
        self.admin = self._function(
            _Spec("admin", "lambda_entry.admin.handler", 900, 1024, "admin actions (invoke only)")
        )
        for fn in (self.api, self.worker, self.scheduler, self.admin):
            database.secret.grant_read(fn)
        queues.reports.grant_send_messages(self.api)
        # GET /v1/status shows the dead-letter queue's depth (found through the redrive policy).
        queues.dead_letter.grant(self.api, "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
        self.worker.add_event_source(
            sources.SqsEventSource(
                queues.reports,
                batch_size=config.worker_batch_size,
                max_batching_window=(
                    Duration.seconds(config.worker_batching_window_s)
                    if config.worker_batching_window_s
                    else None
                ),
                report_batch_item_failures=True,
                # Each worker holds up to db_pool_size connections: this bounds them.
                max_concurrency=config.worker_max_concurrency,
            )
        )
        # The target grants invoke on the function and its versions (ARN:*); this role is
        # used for nothing else.
        schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="cloudperf: EventBridge Scheduler invokes the scheduler function",
        )
        scheduler_id = Stack.of(self).get_logical_id(_cfn(self.scheduler))
        acknowledge(
            schedule_role,
            f"AwsSolutions-IAM5[Resource::<{scheduler_id}.Arn>:*]",
            "CDK's grant covers the scheduler function's versions (ARN:*) as well; the role "
            "can invoke this one function and nothing else.",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Tick",
            schedule=scheduler.ScheduleExpression.rate(
                Duration.minutes(config.schedule_rate_minutes)
            ),
            target=scheduler_targets.LambdaInvoke(
                self.scheduler,
                role=schedule_role,
                retry_attempts=0,  # a missed tick is made up by the next one
                max_event_age=Duration.minutes(1),
            ),
            description="cloudperf scheduler tick",
        )

    def _function(self, spec: _Spec, extra_env: dict[str, str] | None = None) -> lambda_.Function:
        title = spec.name.capitalize()
        logs_group = log_group(self, f"{title}Logs", self._config.log_retention_days)
        role = iam.Role(
            self,
            f"{title}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"cloudperf {spec.name} function",
        )
        logs_group.grant(role, "logs:CreateLogStream", "logs:PutLogEvents")
        role.add_to_policy(iam.PolicyStatement(actions=_VPC_ACTIONS, resources=["*"]))
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "The EC2 network-interface actions a VPC function needs; AWS defines them on "
            "Resource '*' (the interfaces are created by Lambda at run time).",
        )
        fn = lambda_.Function(
            self,
            title,
            runtime=RUNTIME,
            architecture=_ARCH[self._config.architecture],
            handler=spec.handler,
            code=self._code,
            layers=[self._layer],
            role=role,
            description=f"cloudperf {spec.description}",
            timeout=Duration.seconds(spec.timeout_s),
            memory_size=spec.memory_mb,
            environment={
                **self._environment,
                "POWERTOOLS_SERVICE_NAME": f"cloudperf-{spec.name}",
                **(extra_env or {}),
            },
            vpc=self._network.vpc,
            vpc_subnets=self._network.private_subnets,
            security_groups=[self._network.functions_sg],
            log_group=logs_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        acknowledge(
            fn,
            "AwsSolutions-L1",
            "python3.12 is the runtime the bundle's compiled wheels are built for (cp312); "
            "a newer runtime is a deliberate change of both (scripts/build-lambda --python).",
        )
        return fn

    @property
    def all(self) -> tuple[lambda_.Function, ...]:
        return (self.api, self.worker, self.scheduler, self.admin)


def _cfn(construct: Construct) -> CfnResource:
    child = construct.node.default_child
    assert isinstance(child, CfnResource)
    return child
