"""The API and worker handlers on ALB and API Gateway HTTP API events and SQS batches: a probe
registered by the admin handler polls, submits a report, the worker ingests the queued
message, and a user sees it; bodies base64-encoded both ways, multi-value headers and query
strings, cookies, one bad record in a batch, redelivery."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import msgspec
import pytest

from cloudperf_core.api.routes.console import console
from cloudperf_core.bootstrap import Services
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.protocol import ReportSubmission
from lambda_entry import _runtime, admin, api, worker
from tests.support.lambda_events import (
    LambdaContext,
    alb_event,
    http_api_event,
    sqs_event,
    sqs_record,
)
from tests.support.probe_env import latency_job, report_for
from tests.unit.test_importers import CITIES, IP2ASN

FRA = "AS64510 DE Frankfurt am Main, Hesse"
PASSWORD = "correct horse battery staple"
JSON = ("content-type", "application/json")


def body_of(response: dict[str, Any]) -> bytes:
    body = response.get("body", "")
    return base64.b64decode(body) if response["isBase64Encoded"] else body.encode()


def json_of(response: dict[str, Any]) -> Any:
    return json.loads(body_of(response))


def header(response: dict[str, Any], name: str) -> list[str]:
    """Every value of a response header, from ``headers`` or ``multiValueHeaders``."""
    if "multiValueHeaders" in response:
        return [
            v for k, vs in response["multiValueHeaders"].items() if k.lower() == name for v in vs
        ]
    return [v for k, v in response.get("headers", {}).items() if k.lower() == name]


def setup_probe(context: LambdaContext) -> str:
    """The catalogue imported, probe fra-1 registered and a user ann; the probe's token."""
    cities = admin.handler(
        {"action": "import", "kind": "cities", "text": CITIES.read_text()}, context
    )
    assert cities["ok"] and cities["records"] > 0, cities
    ip2asn = admin.handler({"action": "import", "kind": "ip2asn", "path": str(IP2ASN)}, context)
    assert ip2asn["ok"] and ip2asn["records"] > 0, ip2asn
    made = admin.handler({"action": "register_probe", "name": "fra-1", "location": FRA}, context)
    assert made["ok"], made
    user = {"action": "create_user", "username": "ann", "role": "viewer", "password": PASSWORD}
    assert admin.handler(user, context)["ok"]
    return str(made["token"])


def issue_job(source: str) -> None:
    async def issue(services: Services) -> None:
        await (await services.jobs()).issue([latency_job("j1", source=source)])

    _runtime.call(issue)


def queued_records() -> list[dict[str, Any]]:
    """The reports queue's messages as the SQS records Lambda would deliver."""

    async def take(services: Services) -> list[dict[str, Any]]:
        messages = await (await services.reports()).receive(10, 30)
        return [sqs_record(m.message_id, m.body) for m in messages]

    return _runtime.call(take)


def test_a_report_goes_from_the_api_through_the_worker_to_a_query(
    lambda_env: str, context: LambdaContext, capfd: pytest.CaptureFixture[str]
) -> None:
    token = setup_probe(context)
    issue_job(FRA)
    bearer = {"authorization": f"Bearer {token}"}

    # Poll through API Gateway (payload 2.0) with a base64 body.
    polled = api.handler(
        http_api_event(
            "POST", "/v1/probe/poll", headers={**bearer, "content-type": "application/json"},
            body=b'{"max_jobs": 5}', base64_body=True,
        ),
        context,
    )  # fmt: skip
    assert polled["statusCode"] == 200, polled
    [leased] = json_of(polled)["jobs"]
    assert leased["job"]["job_id"] == "j1"

    # Submit through the ALB with multi-value headers and a base64 body.
    job = latency_job("j1", source=FRA)
    report = report_for(job, "r1", started_at_ms=int(time.time() * 1000) - 5_000)
    submission = msgspec.json.encode(ReportSubmission(lease_id=leased["lease_id"], report=report))
    submitted = api.handler(
        alb_event(
            "POST", "/v1/probe/reports", headers=[JSON, ("authorization", bearer["authorization"])],
            body=submission, base64_body=True, multi_value=True,
        ),
        context,
    )  # fmt: skip
    assert submitted["statusCode"] == 202, submitted
    assert "multiValueHeaders" in submitted and "headers" not in submitted

    # The worker gets the queued message plus a record that is not a report.
    records = [*queued_records(), sqs_record("poison-1", b"\xff\xfe not a report")]
    assert len(records) == 2 and records[1]["messageAttributes"]  # sent base64, as SQS does
    capfd.readouterr()
    answer = worker.handler(sqs_event(records), context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(m["ReportsIngested"], m["RecordsFailed"]) for m in emf] == [([1.0], [1.0])]

    # Redelivered (the poison record came back): the report is not counted twice.
    again = worker.handler(sqs_event(records), context)
    assert again == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}

    # A user logs in through the ALB and queries with a repeated query parameter.
    session = login_alb(context)
    query = [("probe", "fra-1"), ("probe", "nowhere-2"), ("source_by", "probe"), ("since", "1d")]
    latency = api.handler(
        alb_event(
            "GET", "/v1/latency", query=query, multi_value=True,
            headers=[("cookie", f"theme=dark; cloudperf_session={session}")],
        ),
        context,
    )  # fmt: skip
    assert latency["statusCode"] == 200, latency
    items = json_of(latency)["items"]
    assert [(i["source"], i["sent"], i["received"]) for i in items] == [("fra-1", 8, 6)]


def login_alb(context: LambdaContext) -> str:
    login = api.handler(
        alb_event(
            "POST", "/v1/login", headers=[JSON],
            body=json.dumps({"username": "ann", "password": PASSWORD}), base64_body=True,
        ),
        context,
    )  # fmt: skip
    assert login["statusCode"] == 200, login
    return str(json_of(login)["token"])


def test_repeated_query_parameters_arrive_as_repeated(
    lambda_env: str, context: LambdaContext
) -> None:
    setup_probe(context)
    auth = ("authorization", f"Bearer {login_alb(context)}")
    query = [("since", "1h"), ("since", "2h")]
    # With multi-value on, both values reach the app, which refuses a repeated single value.
    multi = api.handler(
        alb_event("GET", "/v1/latency", query=query, headers=[auth], multi_value=True), context
    )
    assert multi["statusCode"] == 400, multi
    assert "given 2 times" in json_of(multi)["detail"]
    # Without it the ALB passes the last value only.
    single = api.handler(alb_event("GET", "/v1/latency", query=query, headers=[auth]), context)
    assert single["statusCode"] == 200, single
    # API Gateway passes the raw query string: both values again.
    raw = http_api_event(
        "GET", "/v1/latency", raw_query="since=1h&since=2h", headers={auth[0]: auth[1]}
    )
    assert api.handler(raw, context)["statusCode"] == 400


def test_http_api_cookies_authenticate_and_set_cookie_comes_back_in_cookies(
    lambda_env: str, context: LambdaContext
) -> None:
    setup_probe(context)
    login = api.handler(
        http_api_event(
            "POST", "/v1/login", headers={"content-type": "application/json"},
            body=json.dumps({"username": "ann", "password": PASSWORD}).encode(), base64_body=True,
        ),
        context,
    )  # fmt: skip
    assert login["statusCode"] == 200, login
    [cookie] = login["cookies"]
    assert cookie.startswith("cloudperf_session=") and "HttpOnly" in cookie
    session = cookie.split(";")[0]

    me = api.handler(http_api_event("GET", "/v1/me", cookies=["theme=dark", session]), context)
    assert me["statusCode"] == 200, me
    assert json_of(me)["user"] == "ann"
    nobody = api.handler(http_api_event("GET", "/v1/me", cookies=["theme=dark"]), context)
    assert nobody["statusCode"] == 401
    assert set(json_of(nobody)) == {"error", "detail"}


@pytest.mark.parametrize("multi_value", [False, True])
def test_gzipped_and_binary_assets_go_back_base64_encoded(
    lambda_env: str, context: LambdaContext, multi_value: bool
) -> None:
    files = console()
    script = api.handler(
        alb_event(
            "GET", f"{files.base}/js/main.js", headers=[("accept-encoding", "gzip, br")],
            multi_value=multi_value,
        ),
        context,
    )  # fmt: skip
    assert script["statusCode"] == 200, script
    assert script["isBase64Encoded"] is True
    assert header(script, "content-encoding") == ["gzip"]
    assert gzip.decompress(body_of(script)) == files.assets["js/main.js"].body

    icon = api.handler(http_api_event("GET", f"{files.base}/favicon.svg"), context)
    assert icon["statusCode"] == 200
    assert body_of(icon) in (files.assets["favicon.svg"].body, files.assets["favicon.svg"].gzipped)

    page = api.handler(http_api_event("GET", "/"), context)
    assert page["statusCode"] == 200 and page["isBase64Encoded"] is False
    assert files.base in page["body"]


def test_a_bad_request_is_a_4xx_with_error_and_detail(
    lambda_env: str, context: LambdaContext
) -> None:
    bad = api.handler(
        alb_event(
            "POST", "/v1/login", headers=[JSON], body=b"{not json", base64_body=True,
        ),
        context,
    )  # fmt: skip
    assert 400 <= bad["statusCode"] < 500
    assert set(json_of(bad)) == {"error", "detail"}


def test_a_worker_event_without_records_fails_the_invocation(
    lambda_env: str, context: LambdaContext
) -> None:
    with pytest.raises(InvalidSpecError, match="no Records"):
        worker.handler({"detail-type": "Scheduled Event"}, context)
