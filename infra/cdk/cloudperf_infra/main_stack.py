"""The main stack: network, data, queues, functions, the public entrance, alarms, outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from cloudperf_infra.alarms import Alarms
from cloudperf_infra.config import MainConfig
from cloudperf_infra.data import Cache, Database
from cloudperf_infra.front_door import AlbFrontDoor, HttpApiFrontDoor
from cloudperf_infra.functions import Functions
from cloudperf_infra.network import Network
from cloudperf_infra.queues import ReportQueues


class MainStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: MainConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "cloudperf")
        self.config = config
        self.network = Network(self, "Network", config=config)
        self.database = Database(self, "Database", config=config, network=self.network)
        self.cache = Cache(self, "Cache", config=config, network=self.network)
        self.queues = ReportQueues(self, "Queues", config=config)
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            network=self.network,
            database=self.database,
            cache=self.cache,
            queues=self.queues,
        )
        front_door: AlbFrontDoor | HttpApiFrontDoor
        if config.front_door == "alb":
            front_door = AlbFrontDoor(
                self, "FrontDoor", config=config, network=self.network, api=self.functions.api
            )
        else:
            front_door = HttpApiFrontDoor(self, "FrontDoor", config=config, api=self.functions.api)
        self.front_door = front_door
        self.alarms = Alarms(
            self,
            "Alarms",
            config=config,
            queues=self.queues,
            functions=self.functions,
            cluster=self.database.cluster,
            api_5xx=front_door.metric_5xx,
        )
        CfnOutput(self, "ApiUrl", value=front_door.url, description="give this to probes")
        CfnOutput(
            self,
            "AdminFunctionName",
            value=self.functions.admin.function_name,
            description="aws lambda invoke --function-name THIS (README: first admin user)",
        )
        CfnOutput(self, "ReportsQueueUrl", value=self.queues.reports.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.queues.dead_letter.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
