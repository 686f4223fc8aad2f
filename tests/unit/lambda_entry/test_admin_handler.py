"""The admin handler on direct invocations: every action, refusals as results (never a
traceback), and no password or token in any log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cloudperf_core.auth import probe_id_of, token_matches
from cloudperf_core.bootstrap import Services
from cloudperf_core.catalog import Probe
from lambda_entry import _runtime, admin, api
from tests.support.lambda_events import LambdaContext, alb_event
from tests.unit.lambda_entry.test_api_and_worker import FRA, setup_probe
from tests.unit.test_importers import CITIES, IP2ASN


def probe(name: str) -> Probe | None:
    async def get(services: Services) -> Probe | None:
        return await (await services.catalog()).get_probe(name)

    return _runtime.call(get)


def paused() -> bool:
    async def get(services: Services) -> bool:
        return (await (await services.catalog()).get_settings()).paused

    return _runtime.call(get)


def test_migrate_on_memory_backends_says_the_schema_is_managed(
    lambda_env: str, context: LambdaContext
) -> None:
    done = admin.handler({"action": "migrate"}, context)
    assert done == {
        "ok": True,
        "action": "migrate",
        "schema": {"store": "managed automatically", "catalog": "managed automatically"},
    }


def test_register_rotate_disable_enable_pause_resume(
    lambda_env: str, context: LambdaContext
) -> None:
    assert admin.handler({"action": "import", "kind": "ip2asn", "path": str(IP2ASN)}, context)["ok"]
    imported = admin.handler(
        {"action": "import", "kind": "cities", "text": CITIES.read_text()}, context
    )
    assert imported["ok"] and imported["action"] == "import" and imported["kind"] == "cities"

    made = admin.handler({"action": "register_probe", "name": "fra-1", "location": FRA}, context)
    assert made["ok"] and made["probe_id"] == "fra-1" and made["location"] == FRA
    first = made["token"]
    stored = probe("fra-1")
    assert stored is not None and probe_id_of(first) == "fra-1"
    assert token_matches(first, stored.token_hash)

    rotated = admin.handler({"action": "rotate_token", "name": "fra-1"}, context)
    assert rotated["ok"] and rotated["token"] != first
    stored = probe("fra-1")
    assert stored is not None and token_matches(rotated["token"], stored.token_hash)
    assert not token_matches(first, stored.token_hash)

    off = admin.handler({"action": "disable_probe", "name": "fra-1"}, context)
    assert off == {"ok": True, "action": "disable_probe", "probe_id": "fra-1", "enabled": False}
    assert (stored := probe("fra-1")) is not None and not stored.enabled
    on = admin.handler({"action": "enable_probe", "name": "fra-1"}, context)
    assert on["enabled"] is True and (stored := probe("fra-1")) is not None and stored.enabled

    assert admin.handler({"action": "pause"}, context) == {
        "ok": True,
        "action": "pause",
        "paused": True,
    }
    assert paused()
    assert admin.handler({"action": "resume"}, context)["paused"] is False
    assert not paused()


def test_an_import_resumes_nothing_twice_and_a_missing_file_is_refused(
    lambda_env: str, context: LambdaContext
) -> None:
    event = {"action": "import", "kind": "ip2asn", "path": str(IP2ASN)}
    first = admin.handler(event, context)
    again = admin.handler(event, context)
    assert first["ok"] and again["ok"] and first["records"] == again["records"] > 0

    missing = admin.handler({**event, "path": "/nonexistent/ip2asn.tsv"}, context)
    assert missing["ok"] is False and missing["error"] == "invalid"
    assert "/nonexistent/ip2asn.tsv" in missing["detail"]
    both = admin.handler({**event, "text": "x"}, context)
    assert both["ok"] is False and '"path"' in both["detail"]
    junk = admin.handler(
        {"action": "import", "kind": "cities", "text": "a,b\nnot,an,address\n"}, context
    )
    assert junk["ok"] is False and "no usable cities line" in junk["detail"]


@pytest.mark.parametrize(
    ("event", "error", "words"),
    [
        ({"action": "frobnicate"}, "invalid", "unknown action 'frobnicate': one of migrate"),
        ({"name": "x"}, "invalid", '"action": one of'),
        ("migrate", "invalid", '"action": one of'),
        ({"action": "create_user", "username": "x", "role": "admin"}, "invalid", "password"),
        ({"action": "migrate", "extra": 1}, "invalid", "extra"),
        ({"action": "import", "kind": "geoip", "text": "x"}, "invalid", "kind"),
        ({"action": "register_probe", "name": "x-1", "location": "Atlantis"}, "not_found",
         "Atlantis"),
        ({"action": "rotate_token", "name": "nobody-1"}, "not_found", "nobody-1"),
        ({"action": "enable_probe", "name": "nobody-1"}, "not_found", "nobody-1"),
        ({"action": "register_probe", "name": "Bad Name!", "location": FRA}, "invalid", "probe"),
        ({"action": "create_user", "username": "u", "role": "root", "password": "long enough pw"},
         "invalid", "role"),
    ],
)  # fmt: skip
def test_a_bad_event_is_a_refusal_with_error_and_detail(
    lambda_env: str, context: LambdaContext, event: Any, error: str, words: str
) -> None:
    refused = admin.handler(event, context)
    assert set(refused) == {"ok", "error", "detail"}
    assert refused["ok"] is False and refused["error"] == error
    assert words in refused["detail"]


def test_a_taken_user_name_is_a_conflict(lambda_env: str, context: LambdaContext) -> None:
    event = {
        "action": "create_user",
        "username": "ann",
        "role": "viewer",
        "password": "long enough pw",
    }
    assert admin.handler(event, context)["ok"]
    taken = admin.handler(event, context)
    assert (taken["ok"], taken["error"]) == (False, "conflict")


class JsonLines(logging.Handler):
    """The lines the handlers' Powertools logger writes, formatted by its own formatter."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_no_password_or_token_reaches_the_logs(lambda_env: str, context: LambdaContext) -> None:
    formatter = logging.getLogger("cloudperf-admin").handlers[0].formatter
    collect = JsonLines(formatter)
    names = ("cloudperf-admin", "cloudperf-api", "cloudperf_core", "adapters", "mangum")
    # INFO as in Lambda (POWERTOOLS_LOG_LEVEL), whatever earlier tests left set.
    levels = {n: logging.getLogger(n).level for n in (*names, "cloudperf_core.service.users")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in names:
        logging.getLogger(name).addHandler(collect)
    try:
        secrets = run_admin_and_logins(context)
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(collect)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    logged = "\n".join(collect.lines)
    # The logs were seen: the actions, the logins (one refused) and the refused create_user.
    for words in ("admin action done", "logged in", "login failed", "a user named 'ann' exists"):
        assert words in logged
    assert '"function_request_id"' in logged  # Powertools' JSON, with the request id
    for secret in secrets:
        assert secret not in logged


def run_admin_and_logins(context: LambdaContext) -> list[str]:
    """create_user, register_probe, rotate_token, a refused create_user, a login and a
    failed one; every secret they handled."""
    token = setup_probe(context)
    password = "correct horse battery staple"
    rotated = admin.handler({"action": "rotate_token", "name": "fra-1"}, context)["token"]
    refused = admin.handler(
        {"action": "create_user", "username": "ann", "role": "viewer", "password": "hunter2-xyz"},
        context,
    )
    assert refused["ok"] is False
    sessions = []
    for attempt in (password, "wrong-password-123"):
        login = api.handler(
            alb_event(
                "POST", "/v1/login", headers=[("content-type", "application/json")],
                body=json.dumps({"username": "ann", "password": attempt}), base64_body=True,
            ),
            context,
        )  # fmt: skip
        if login["statusCode"] == 200:
            sessions.append(json.loads(login["body"])["token"])
    assert len(sessions) == 1
    return [password, "wrong-password-123", "hunter2-xyz", token, rotated, *sessions]
