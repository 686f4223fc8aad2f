"""The Lambda handlers as deployed: no store URL, only the database secret's ARN. The secret
lives in moto's Secrets Manager and names a MariaDB user whose password needs percent-encoding;
the admin handler migrates, the worker ingests records received from the SQS emulator (turned
into the records Lambda's event source mapping delivers), one poison record among them."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from typing import Any

import asyncmy
import botocore.session
import pytest

from cloudperf_core import service
from cloudperf_core.bootstrap import Services
from cloudperf_core.clock import SystemClock
from cloudperf_core.models import StatsQuery
from lambda_entry import _runtime, admin, worker
from tests.contract.makers.aurora import MYSQL_HOST, MYSQL_PORT, MYSQL_USER
from tests.contract.makers.sqs import sqs_url
from tests.support.lambda_events import QUEUE_ARN, REGION, LambdaContext, sqs_event
from tests.support.moto import moto_endpoint, unique_name
from tests.support.probe_env import latency_job, report_for

pytestmark = pytest.mark.services

PASSWORD = "p@ss:w/rd?#%&=+ x"  # every character a URL gives a meaning to


async def _root(sql: str, *args: str) -> None:
    conn = await asyncmy.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password="", connect_timeout=5
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args or None)
    finally:
        conn.close()


def _aws(kind: str, region: str = REGION) -> Any:
    return botocore.session.get_session().create_client(
        kind, endpoint_url=moto_endpoint(), region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def lambda_record(message: dict[str, Any]) -> dict[str, Any]:
    """An SQS ReceiveMessage message as Lambda's event source mapping hands it over."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The environment the CDK app gives the functions; yields the reports queue's name."""
    suffix = secrets.token_hex(5)
    database, user = f"cloudperf_lambda_{suffix}", f"cp_{suffix}"
    asyncio.run(_root(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    asyncio.run(_root("CREATE USER %s@'%%' IDENTIFIED BY %s", user, PASSWORD))
    asyncio.run(_root(f"GRANT ALL ON `{database}`.* TO %s@'%%'", user))
    secret = {
        "username": user, "password": PASSWORD, "engine": "mysql", "host": MYSQL_HOST,
        "port": MYSQL_PORT, "dbClusterIdentifier": "cloudperf",
    }  # fmt: skip
    arn = _aws("secretsmanager").create_secret(
        Name=unique_name("cloudperf-db"), SecretString=json.dumps(secret)
    )["ARN"]
    queue = unique_name("cloudperf-reports")
    for variable in ("CLOUDPERF_STORE", "CLOUDPERF_CATALOG", "CLOUDPERF_JOBS"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {
        "CLOUDPERF_DB_SECRET_ARN": arn,
        "CLOUDPERF_DB_NAME": database,
        "CLOUDPERF_DB_OPTIONS": "pool_size=2&connect_timeout_s=5",
        "CLOUDPERF_REPORTS": sqs_url(queue, create=True),
        "CLOUDPERF_CACHE": f"memory://{suffix}",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(variable, value)
    _runtime.runtime.close()
    try:
        yield queue
    finally:
        _runtime.runtime.close()
        asyncio.run(_root("DROP USER IF EXISTS %s@'%%'", user))
        asyncio.run(_root(f"DROP DATABASE IF EXISTS `{database}`"))


def test_the_worker_ingests_sqs_records_into_the_database_named_by_the_secret(
    deployed: str,
) -> None:
    context = LambdaContext(function_name="cloudperf-worker")
    migrated = admin.handler({"action": "migrate"}, context)
    assert migrated["ok"], migrated
    assert migrated["schema"]["store"]["applied"]  # a fresh database: migrations ran

    async def enqueue(services: Services) -> None:
        now_ms = SystemClock().now_ms()
        bodies = [
            service.encode_report(report_for(latency_job(), f"r{i}", started_at_ms=now_ms))
            for i in range(3)
        ]
        await (await services.reports()).send(bodies)

    _runtime.call(enqueue)
    sqs = _aws("sqs", "us-east-1")  # the region of sqs_url's queues
    url = sqs.get_queue_url(QueueName=deployed)["QueueUrl"]
    poison_body = '{"report_id": 12}'
    sqs.send_message(QueueUrl=url, MessageBody=poison_body)
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        AttributeNames=["All"], VisibilityTimeout=60,
    )["Messages"]  # fmt: skip
    assert len(messages) == 4
    poison = next(m["MessageId"] for m in messages if m["Body"] == poison_body)

    answer = worker.handler(sqs_event([lambda_record(m) for m in messages]), context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": poison}]}
    again = worker.handler(sqs_event([lambda_record(m) for m in messages]), context)
    assert again == answer  # redelivered: stored once, the poison fails again

    async def sent(services: Services) -> int:
        groups = await service.query_stats(await services.store(), StatsQuery(), "overall")
        return groups[0].stats.sent

    assert _runtime.call(sent) == 3 * 2 * 4  # 3 reports x 2 targets x 4 probes, once each
