"""The main stack as synthesized: the properties an operator or an auditor would check."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from cloudperf_infra.queues import MAX_RECEIVE_COUNT

from conftest import Synthesized, resources


def _one(raw: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = list(resources(raw, kind))
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _functions(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Our four functions by handler module name (api, worker, ...)."""
    out = {}
    for _, props in resources(raw, "AWS::Lambda::Function"):
        handler = props.get("Handler", "")
        if handler.startswith("lambda_entry."):
            out[handler.split(".")[1]] = props
    return out


def _ref_id(value: Any) -> str:
    """The logical id inside {"Ref": id} or {"Fn::GetAtt": [id, attr]}."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def test_four_functions_on_one_layer_with_the_contract_handlers(synthesized: Synthesized) -> None:
    fns = _functions(synthesized.raw["Default"])
    assert sorted(fns) == ["admin", "api", "scheduler", "worker"]
    for name, props in fns.items():
        assert props["Handler"] == f"lambda_entry.{name}.handler"
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert len(props["Layers"]) == 1
        assert props["VpcConfig"]["SubnetIds"], "every function runs inside the VPC"
    assert {p["Architectures"][0] for p in _functions(synthesized.raw["Alb"]).values()} == {
        "x86_64"
    }


def test_function_environment_follows_the_service_contract(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Default"]
    secret_attachment, _ = _one(raw, "AWS::SecretsManager::SecretTargetAttachment")
    queue_id = next(i for i, p in resources(raw, "AWS::SQS::Queue") if "RedrivePolicy" in p)
    cache_id, _ = _one(raw, "AWS::ElastiCache::ServerlessCache")
    for name, props in _functions(raw).items():
        env = props["Environment"]["Variables"]
        assert env["CLOUDPERF_DB_SECRET_ARN"] == {"Ref": secret_attachment}
        assert env["CLOUDPERF_DB_NAME"] == "cloudperf"
        assert env["CLOUDPERF_DB_OPTIONS"] == "pool_size=2&connect_timeout_s=20"
        assert env["POWERTOOLS_SERVICE_NAME"] == f"cloudperf-{name}"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "cloudperf"
        assert "CLOUDPERF_STORE" not in env, "the store URL is built from the secret"
        reports = env["CLOUDPERF_REPORTS"]["Fn::Join"][1]
        assert reports[0] == "sqs://"
        assert reports[1] == {"Fn::GetAtt": [queue_id, "QueueName"]}
        assert reports[2:5] == ["?region=", {"Ref": "AWS::Region"}, "&queue_url="]
        assert reports[5] == {"Ref": queue_id}
        for key in ("CLOUDPERF_JOBS", "CLOUDPERF_CACHE"):
            parts = env[key]["Fn::Join"][1]
            assert parts[0] == "rediss://"
            assert parts[1] == {"Fn::GetAtt": [cache_id, "Endpoint.Address"]}
            assert parts[-1] == "/0?prefix={cloudperf}:", "db 0 and one hash slot"
    assert "CLOUDPERF_TRUSTED_PROXY" not in _functions(raw)["api"]["Environment"]["Variables"]
    alb_api = _functions(synthesized.raw["Alb"])["api"]
    assert alb_api["Environment"]["Variables"]["CLOUDPERF_TRUSTED_PROXY"] == "alb"


def test_worker_trigger_reports_partial_failures_and_bounds_concurrency(
    default: Template, alb: Template
) -> None:
    default.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 5,
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )
    alb.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 50, "ScalingConfig": {"MaximumConcurrency": 3}},
    )


def test_reports_queue_redrives_to_an_encrypted_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    raw = synthesized.raw["Default"]
    queues = dict(resources(raw, "AWS::SQS::Queue"))
    assert len(queues) == 2
    reports = next(p for p in queues.values() if "RedrivePolicy" in p)
    dlq_id = reports["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert reports["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT == 5
    worker_timeout = _functions(raw)["worker"]["Timeout"]
    assert reports["VisibilityTimeout"] >= 6 * worker_timeout
    for props in queues.values():
        assert props["SqsManagedSseEnabled"] is True
    assert queues[dlq_id]["MessageRetentionPeriod"] == 14 * 86400
    # Both queues refuse requests that are not over TLS.
    policies = [
        p["PolicyDocument"]["Statement"] for _, p in resources(raw, "AWS::SQS::QueuePolicy")
    ]
    assert len(policies) == 2
    for statements in policies:
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_scheduler_ticks_every_minute_and_admin_has_no_trigger(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Default"]
    fn_ids = {
        p["Handler"].split(".")[1]: i
        for i, p in resources(raw, "AWS::Lambda::Function")
        if p.get("Handler", "").startswith("lambda_entry.")
    }
    _, schedule = _one(raw, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [fn_ids["scheduler"], "Arn"]}
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    # What can invoke each function: the HTTP API the api, SQS the worker, nothing the admin.
    permissions = [p["FunctionName"] for _, p in resources(raw, "AWS::Lambda::Permission")]
    mappings = [p["FunctionName"] for _, p in resources(raw, "AWS::Lambda::EventSourceMapping")]
    triggered = {_ref_id(f) for f in permissions + mappings}
    assert fn_ids["admin"] not in triggered
    assert fn_ids["worker"] in triggered and fn_ids["api"] in triggered


def test_each_function_role_holds_only_what_it_needs(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Default"]
    actions_by_role: dict[str, set[str]] = {}
    for _, policy in resources(raw, "AWS::IAM::Policy"):
        actions = set()
        for statement in policy["PolicyDocument"]["Statement"]:
            acts = statement["Action"]
            actions |= {acts} if isinstance(acts, str) else set(acts)
        for role in policy["Roles"]:
            actions_by_role.setdefault(role["Ref"], set()).update(actions)
    role_of = {name: _ref_id(props["Role"]) for name, props in _functions(raw).items()}
    api, worker = actions_by_role[role_of["api"]], actions_by_role[role_of["worker"]]
    scheduler, admin = actions_by_role[role_of["scheduler"]], actions_by_role[role_of["admin"]]
    assert "sqs:SendMessage" in api and "sqs:ReceiveMessage" not in api
    assert "sqs:ReceiveMessage" in worker and "sqs:SendMessage" not in worker
    assert not any(a.startswith("sqs:") for a in scheduler | admin)
    for actions in (api, worker, scheduler, admin):
        assert "secretsmanager:GetSecretValue" in actions
        assert not any(a.endswith(":*") or a == "*" for a in actions), actions
    # No function role carries an AWS managed policy.
    for name, role_id in role_of.items():
        assert "ManagedPolicyArns" not in raw["Resources"][role_id]["Properties"], name


def test_security_groups_let_only_the_functions_reach_data(synthesized: Synthesized) -> None:
    for stack in ("Default", "Alb"):
        raw = synthesized.raw[stack]
        cluster_id, cluster = _one(raw, "AWS::RDS::DBCluster")
        _, cache = _one(raw, "AWS::ElastiCache::ServerlessCache")
        db_sg = _ref_id(cluster["VpcSecurityGroupIds"][0])
        cache_sg = _ref_id(cache["SecurityGroupIds"][0])
        fn_sg = _ref_id(_functions(raw)["api"]["VpcConfig"]["SecurityGroupIds"][0])
        ingress = [p for _, p in resources(raw, "AWS::EC2::SecurityGroupIngress")]
        to_db = [r for r in ingress if _ref_id(r["GroupId"]) == db_sg]
        to_cache = [r for r in ingress if _ref_id(r["GroupId"]) == cache_sg]
        assert [
            (_ref_id(r["SourceSecurityGroupId"]), r["FromPort"], r["ToPort"]) for r in to_db
        ] == [(fn_sg, 3306, 3306)]
        assert [
            (_ref_id(r["SourceSecurityGroupId"]), r["FromPort"], r["ToPort"]) for r in to_cache
        ] == [(fn_sg, 6379, 6380)]
        groups = dict(resources(raw, "AWS::EC2::SecurityGroup"))
        for sg_id in (db_sg, cache_sg, fn_sg):
            assert not groups[sg_id].get("SecurityGroupIngress"), "no inline ingress rules"
        # The only inbound rules from anywhere are the public entrance's (ALB: 80 and 443).
        open_ingress = [
            (sg_id, rule["FromPort"])
            for sg_id, props in groups.items()
            for rule in props.get("SecurityGroupIngress", [])
            if rule.get("CidrIp") == "0.0.0.0/0"
        ]
        assert sorted(p for _, p in open_ingress) == ([] if stack == "Default" else [80, 443])
        assert cluster_id


def test_database_is_private_encrypted_backed_up_and_protected(synthesized: Synthesized) -> None:
    raw = synthesized.raw["Default"]
    _, cluster = _one(raw, "AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-mysql"
    assert cluster["StorageEncrypted"] is True
    assert cluster["DeletionProtection"] is True
    assert cluster["BackupRetentionPeriod"] == 7
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4}
    assert set(cluster["EnableCloudwatchLogsExports"]) == {"audit", "error", "slowquery"}
    assert "secretsmanager" in cluster["MasterUserPassword"]["Fn::Join"][1][0]
    instances = [p for _, p in resources(raw, "AWS::RDS::DBInstance")]
    assert len(instances) == 2, "writer plus reader"
    assert all(i["PubliclyAccessible"] is False for i in instances)
    assert all(i["DBInstanceClass"] == "db.serverless" for i in instances)
    _, subnets = _one(raw, "AWS::RDS::DBSubnetGroup")
    public_subnets = {
        i for i, p in resources(raw, "AWS::EC2::Subnet") if p.get("MapPublicIpOnLaunch")
    }
    assert not {_ref_id(s) for s in subnets["SubnetIds"]} & public_subnets
    assert raw["Resources"][_one(raw, "AWS::RDS::DBCluster")[0]]["DeletionPolicy"] == "Snapshot"
    # Writer only, and deletion protection off, only when asked for.
    assert len(list(resources(synthesized.raw["Alb"], "AWS::RDS::DBInstance"))) == 1
    _, insecure = _one(synthesized.raw["Insecure"], "AWS::RDS::DBCluster")
    assert insecure["DeletionProtection"] is False
    assert insecure["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0


def test_cache_is_serverless_valkey_in_private_subnets(synthesized: Synthesized) -> None:
    _, cache = _one(synthesized.raw["Default"], "AWS::ElastiCache::ServerlessCache")
    assert (cache["Engine"], cache["MajorEngineVersion"]) == ("valkey", "8")
    assert cache["CacheUsageLimits"]["DataStorage"] == {"Maximum": 5, "Unit": "GB"}
    assert len(cache["SubnetIds"]) == 2
    _, redis = _one(synthesized.raw["Alb"], "AWS::ElastiCache::ServerlessCache")
    assert (redis["Engine"], redis["MajorEngineVersion"]) == ("redis", "7")


def test_vpc_spans_two_zones_with_the_asked_nat_count(synthesized: Synthesized) -> None:
    default, insecure = synthesized.raw["Default"], synthesized.raw["Insecure"]
    assert len(list(resources(default, "AWS::EC2::Subnet"))) == 4
    assert len(list(resources(default, "AWS::EC2::NatGateway"))) == 1
    assert not list(resources(default, "AWS::EC2::VPCEndpoint"))
    assert not list(resources(insecure, "AWS::EC2::NatGateway"))
    services = sorted(
        p["ServiceName"]["Fn::Join"][1][-1]
        if isinstance(p["ServiceName"], dict)
        else p["ServiceName"]
        for _, p in resources(insecure, "AWS::EC2::VPCEndpoint")
    )
    assert [s.rsplit(".", 1)[-1] for s in services] == ["secretsmanager", "sqs"]
    for _, endpoint in resources(insecure, "AWS::EC2::VPCEndpoint"):
        assert endpoint["PrivateDnsEnabled"] is True
    _, flow_log = _one(default, "AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "REJECT"


def test_alarms_watch_what_matters_and_notify_the_topic(synthesized: Synthesized) -> None:
    for stack in ("Default", "Alb"):
        raw = synthesized.raw[stack]
        topic_id, topic = _one(raw, "AWS::SNS::Topic")
        assert "KmsMasterKeyId" in topic, "the alarm topic is encrypted"
        alarms = [p for _, p in resources(raw, "AWS::CloudWatch::Alarm")]
        assert len(alarms) == 5
        for alarm in alarms:
            assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        by_metric = {a.get("MetricName"): a for a in alarms}
        dlq = by_metric["ApproximateNumberOfMessagesVisible"]
        assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        acu = by_metric["ACUUtilization"]
        assert acu["Namespace"] == "AWS/RDS" and acu["Threshold"] == 95
        errors = [a for a in alarms if a.get("MetricName") == "Errors"]
        assert len(errors) == 2, "worker and scheduler errors"
        five_xx = [a for a in alarms if a not in (dlq, acu, *errors)]
        assert len(five_xx) == 1
    default_5xx = [
        a
        for _, a in resources(synthesized.raw["Default"], "AWS::CloudWatch::Alarm")
        if a.get("MetricName") == "5xx"
    ]
    assert default_5xx and default_5xx[0]["Namespace"] == "AWS/ApiGateway"
    alb_5xx = [
        a for _, a in resources(synthesized.raw["Alb"], "AWS::CloudWatch::Alarm") if "Metrics" in a
    ]
    names = {
        m["MetricStat"]["Metric"]["MetricName"] for m in alb_5xx[0]["Metrics"] if "MetricStat" in m
    }
    assert names == {"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"}
    _, subscription = _one(synthesized.raw["Alb"], "AWS::SNS::Subscription")
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    assert not list(resources(synthesized.raw["Default"], "AWS::SNS::Subscription"))


def test_every_log_group_has_a_retention(synthesized: Synthesized) -> None:
    for name, raw in synthesized.raw.items():
        groups = [p for _, p in resources(raw, "AWS::Logs::LogGroup")]
        assert groups, name
        assert all(g.get("RetentionInDays") == 30 for g in groups), name
    default = synthesized.raw["Default"]
    names = {
        g["LogGroupName"]
        for _, g in resources(default, "AWS::Logs::LogGroup")
        if "LogGroupName" in g
    }
    assert names == {f"/aws/rds/cluster/default-db/{k}" for k in ("audit", "error", "slowquery")}
    # No CDK log-retention custom resource: the groups exist before anything writes to them.
    assert not [k for k, r in default["Resources"].items() if r["Type"] == "Custom::LogRetention"]


def test_outputs_give_the_api_url_admin_function_and_queues(synthesized: Synthesized) -> None:
    outputs = synthesized.raw["Default"]["Outputs"]
    assert {"ApiUrl", "AdminFunctionName", "ReportsQueueUrl", "DeadLetterQueueUrl"} <= set(outputs)
    alb_url = synthesized.raw["Alb"]["Outputs"]["ApiUrl"]["Value"]
    assert alb_url == "https://api.example.com"
