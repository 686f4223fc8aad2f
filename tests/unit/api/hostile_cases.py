"""The hostile requests, as data: each one its own test id, its expected status and code.

Marks in paths and bodies (``@LEASE@``, ``@NOW@``, ...) are filled from the world
(:mod:`tests.unit.api.hostile`); ``auth`` names a credential of the world (``"viewer"``,
``"p1"``, ``"rotated"``, ...), ``"cookie:viewer"`` sends that session as the browser cookie,
``"raw:..."`` sends the header value as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cloudperf_core.api.app import all_routes
from cloudperf_core.api.routes.console import console
from cloudperf_core.settings import ServiceSettings

MAX_BODY = ServiceSettings().max_body_bytes
PASSWORD = "correct horse battery"  # ana's and bea's (the brute-force targets)
BIG = str(2**63).encode()
HUGE = b"1e309"
VERSION = console().version.encode()


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: bytes
    status: int
    code: str
    auth: str | None = None
    body: bytes | None = None
    content_type: str | None = "application/json"
    chunked: bool = False  # streamed in 64 KiB chunks, no Content-Length
    content_length: bytes | None = None  # sent instead of the true length
    before: tuple[bytes, ...] = ()  # bodies sent first (login brute force), each refused
    expired: bool = False  # needs the world's expired session and lease


def j(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def submission(report: dict[str, Any] | None = None, lease: str = "@LEASE@", **more: Any) -> bytes:
    body: dict[str, Any] = {"lease_id": lease, **more}
    if report is not None:
        body["report"] = report
    return j(body).replace(b'"@NOW_INT@"', b"@NOW@")


def report(**changes: Any) -> dict[str, Any]:
    """A report of job j1 (tests.support.probe_env.latency_job), valid unless changed."""
    targets = ["10.231.0.1", "10.231.0.2"]
    spec = {"targets": targets, "count": 4, "period_ms": 100}
    results = [
        {"target": t, "sent": 4, "received": 3, "rtts_us": [1000, None, 1200, 1100]}
        for t in targets
    ]
    base: dict[str, Any] = {
        "report_id": "r2", "source": "x", "started_at_ms": "@NOW_INT@", "spec": spec,
        "results": results, "job_id": "j1",
    }  # fmt: skip
    return base | changes


def discovery_submission(lease: str = "@DISC_LEASE@", **changes: Any) -> bytes:
    """A submission of a discovery report for job d1 (10.231.0.0/29, at most 8 hosts)."""
    spec = {"start": "10.231.0.0/29", "max_hosts": 8}
    report = {
        "report_id": "d-1",
        "started_at_ms": "@NOW_INT@",
        "spec": spec,
        "found": ["10.231.0.1"],
    }
    return j({"lease_id": lease, "discovery": report | changes}).replace(b'"@NOW_INT@"', b"@NOW@")


# One body per route that WOULD change state if the caller were allowed: the role and auth
# cases send it, so a missing check shows up in the snapshot, not only in the status.
VALID_BODY: dict[tuple[str, str], bytes] = {
    ("POST", "/v1/password"): j({"old_password": "x" * 12, "new_password": "y" * 12}),
    ("POST", "/v1/users"): j({"name": "mallory", "password": "p" * 12, "role": "admin"}),
    ("PUT", "/v1/users/{name}/role"): j({"role": "admin"}),
    ("PUT", "/v1/users/{name}/password"): j({"password": "p" * 12}),
    ("PUT", "/v1/groups/{name}"): j({"locations": ["lab", "far"]}),  # g1 is ["lab"]
    ("POST", "/v1/admin/probes"): j({"name": "evil", "location": "lab"}),
    ("POST", "/v1/probe/poll"): j({"max_jobs": 10}),
    ("POST", "/v1/probe/reports"): submission(report()),
    ("POST", "/v1/probe/heartbeat"): j({"fping_can_send": True}),
}
PATH_VALUES = {"name": "vera", "addr": "10.231.0.1"}
ADMIN_PATH_VALUES = {"/v1/admin/probes/{name}": "p1", "/v1/groups/{name}": "g1"}


def concrete(path: str) -> bytes:
    for prefix, value in ADMIN_PATH_VALUES.items():
        if path.startswith(prefix):
            path = path.replace("{name}", value)
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path.encode()


ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}


def route_cases() -> list[Case]:
    """For every authenticated route: no credential, a forged one, the wrong kind, and for
    user routes a logged-out session, a deleted user's, and every role below the minimum."""
    out: list[Case] = []
    for route in all_routes():
        op = route.op
        if op.auth == "none":
            continue
        key = f"{op.method} {op.path}"
        path, body = concrete(op.path), VALID_BODY.get((op.method, op.path))
        unauth = {"status": 401, "code": "unauthenticated"}

        def case(what: str, auth: str | None, **kw: Any) -> Case:
            return Case(f"{key} {what}", op.method, path, auth=auth, body=body, **kw)  # noqa: B023

        out.append(case("without a credential", None, **unauth))
        out.append(case("with a Basic credential", "raw:Basic YWRtaW46YWRtaW4=", **unauth))
        if op.auth == "probe":
            out.append(case("with a forged probe token", "forged_probe", **unauth))
            out.append(case("with a rotated-out token", "rotated", **unauth))
            out.append(case("as a disabled probe", "disabled", status=403, code="probe_disabled"))
            out.append(case("with a user session", "admin", **unauth))
            continue
        out.append(case("with a forged session", "forged_session", **unauth))
        out.append(case("after logout", "logged_out", **unauth))
        out.append(case("as a deleted user", "deleted_user", **unauth))
        out.append(case("with a probe token", "p1", **unauth))
        for role, rank in ROLE_RANK.items():
            # /metrics ("scraper"): the scrape token, or else a viewer session.
            if rank < ROLE_RANK["viewer" if op.auth == "scraper" else op.auth]:
                out.append(case(f"as {role}", role, status=403, code="forbidden"))
    return out


def _v(path: str) -> bytes:
    return f"/console/{VERSION.decode()}/{path}".encode()


LOGIN = b"/v1/login"
BAD_JSON = [
    ("empty object", b"{}"),
    ("wrong types", j({"username": 1, "password": []})),
    ("null", b"null"),
    ("a list", b"[]"),
    ("an unknown field", j({"username": "ana", "password": PASSWORD, "admin": True})),
    ("invalid UTF-8", b'{"username": "\xff\xfe", "password": "xxxxxxxxxxxx"}'),
    ("truncated JSON", b'{"username": "ana", "pass'),
    ("a huge number", b'{"username": "ana", "password": ' + HUGE + b"}"),
    ("nested 10k deep", nested(10_000)),
    ("nested 10k deep in a field", b'{"username": ' + nested(10_000) + b"}"),
    ("a 256-char username", j({"username": "a" * 256, "password": PASSWORD})),
    ("a 2k-char password", j({"username": "ana", "password": "p" * 2000})),
    ("a lone surrogate", b'{"username": "\\ud800", "password": "xxxxxxxxxxxx"}'),
]

SPECIFIC: list[Case] = [
    # --- login ---------------------------------------------------------------------------
    *[Case(f"login: {what}", "POST", LOGIN, 400, "invalid_body", body=b) for what, b in BAD_JSON],
    Case(
        "login: text/plain",
        "POST",
        LOGIN,
        415,
        "unsupported_media_type",
        body=b"username=ana&password=x",
        content_type="text/plain",
    ),
    Case(
        "login: form-encoded",
        "POST",
        LOGIN,
        415,
        "unsupported_media_type",
        body=b"username=ana",
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "login: no content type",
        "POST",
        LOGIN,
        415,
        "unsupported_media_type",
        body=j({"username": "ana", "password": PASSWORD}),
        content_type=None,
    ),
    Case(
        "login: multipart",
        "POST",
        LOGIN,
        415,
        "unsupported_media_type",
        body=b"--x\r\n\r\n--x--",
        content_type="multipart/form-data; boundary=x",
    ),
    Case(
        "login: a body over the limit",
        "POST",
        LOGIN,
        413,
        "body_too_large",
        body=b'{"username": "' + b"a" * MAX_BODY + b'"}',
    ),
    Case(
        "login: a chunked body over the limit",
        "POST",
        LOGIN,
        413,
        "body_too_large",
        body=b'{"username": "' + b"a" * MAX_BODY + b'"}',
        chunked=True,
    ),
    Case(
        "login: a lying Content-Length",
        "POST",
        LOGIN,
        413,
        "body_too_large",
        body=b"{}",
        content_length=b"-1",
    ),
    Case(
        "login: a 2**63 Content-Length",
        "POST",
        LOGIN,
        413,
        "body_too_large",
        body=b"{}",
        content_length=BIG,
    ),
    Case(
        "login: SQL in the username",
        "POST",
        LOGIN,
        401,
        "unauthenticated",
        body=j({"username": "ana' OR '1'='1' --", "password": PASSWORD}),
    ),
    Case(
        "login: SQL in the password",
        "POST",
        LOGIN,
        401,
        "unauthenticated",
        body=j({"username": "ana", "password": "' OR 1=1; DROP TABLE users; --"}),
    ),
    Case(
        "login: NUL in the username",
        "POST",
        LOGIN,
        401,
        "unauthenticated",
        body=j({"username": "ana\x00", "password": PASSWORD}),
    ),
    Case(
        "login: unicode garbage",
        "POST",
        LOGIN,
        401,
        "unauthenticated",
        body=j({"username": "\u202e\ufeff\U0001f4a9\u0301", "password": "\u0000" * 12}),
    ),
    Case(
        "login: brute force on one user",
        "POST",
        LOGIN,
        429,
        "rate_limited",
        # bea: a user no other case logs in as (ana's failures stay below her limit).
        body=j({"username": "bea", "password": PASSWORD}),
        before=tuple(j({"username": "bea", "password": f"guess-{i:06}"}) for i in range(3)),
    ),
    Case(
        "login: brute force from one address",
        "POST",
        LOGIN,
        429,
        "rate_limited",
        body=j({"username": "ana", "password": PASSWORD}),
        before=tuple(j({"username": f"u{i}", "password": "guess-000000"}) for i in range(5)),
    ),
    # --- logout, own password -------------------------------------------------------------
    Case(
        "logout: cookie session without JSON",
        "POST",
        b"/v1/logout",
        415,
        "unsupported_media_type",
        auth="cookie:viewer",
        body=b"",
        content_type="text/plain",
    ),
    Case(
        "logout: a Basic credential",
        "POST",
        b"/v1/logout",
        401,
        "unauthenticated",
        auth="raw:Basic YWRtaW46YWRtaW4=",
    ),
    Case(
        "logout: an empty bearer",
        "POST",
        b"/v1/logout",
        401,
        "unauthenticated",
        auth="raw:Bearer    ",
    ),
    Case(
        "password: wrong old password",
        "POST",
        b"/v1/password",
        403,
        "wrong_password",
        auth="viewer",
        body=j({"old_password": "not-the-password", "new_password": "n" * 12}),
    ),
    Case(
        "password: nested 10k deep",
        "POST",
        b"/v1/password",
        400,
        "invalid_body",
        auth="viewer",
        body=b'{"old_password": ' + nested(10_000) + b"}",
    ),
    Case(
        "password: cookie session, form post",
        "POST",
        b"/v1/password",
        415,
        "unsupported_media_type",
        auth="cookie:viewer",
        body=b"old_password=x",
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "me: an expired session",
        "GET",
        b"/v1/me",
        401,
        "unauthenticated",
        auth="expired_session",
        expired=True,
    ),
    Case(
        "status: an expired session",
        "GET",
        b"/v1/status",
        401,
        "unauthenticated",
        auth="expired_session",
        expired=True,
    ),
    # --- users (admin) ---------------------------------------------------------------------
    Case(
        "users: a path-like name",
        "POST",
        b"/v1/users",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "../../etc/passwd", "password": "p" * 12}),
    ),
    Case(
        "users: NUL in the name",
        "POST",
        b"/v1/users",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "eve\x00admin", "password": "p" * 12}),
    ),
    Case(
        "users: SQL in the name",
        "POST",
        b"/v1/users",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "x'); DROP TABLE users; --", "password": "p" * 12}),
    ),
    Case(
        "users: an unknown role",
        "POST",
        b"/v1/users",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "eve", "password": "p" * 12, "role": "root"}),
    ),
    Case(
        "users: an existing name",
        "POST",
        b"/v1/users",
        409,
        "conflict",
        auth="admin",
        body=j({"name": "vera", "password": "p" * 12}),
    ),
    Case(
        "users: a short password",
        "POST",
        b"/v1/users",
        400,
        "invalid",
        auth="admin",
        body=j({"name": "eve", "password": "p"}),
    ),
    Case(
        "users: role of nobody",
        "PUT",
        b"/v1/users/nobody/role",
        404,
        "not_found",
        auth="admin",
        body=j({"role": "admin"}),
    ),
    Case(
        "users: demote the last admin",
        "PUT",
        b"/v1/users/ada/role",
        409,
        "conflict",
        auth="admin",
        body=j({"role": "viewer"}),
    ),
    Case("users: delete the last admin", "DELETE", b"/v1/users/ada", 409, "conflict", auth="admin"),
    Case(
        "users: delete through ../",
        "DELETE",
        b"/v1/users/%2e%2e%2fada",
        404,
        "not_found",
        auth="admin",
    ),
    Case(
        "users: delete an encoded-slash name",
        "DELETE",
        b"/v1/users/vera%2Fx",
        404,
        "not_found",
        auth="admin",
    ),
    Case(
        "users: reset nobody's password",
        "PUT",
        b"/v1/users/nobody/password",
        404,
        "not_found",
        auth="admin",
        body=j({"password": "p" * 12}),
    ),
    Case("users: NUL in the path", "DELETE", b"/v1/users/vera%00", 404, "not_found", auth="admin"),
    Case(
        "users: limit 2**63", "GET", b"/v1/users?limit=" + BIG, 400, "invalid_query", auth="admin"
    ),
    Case("users: negative limit", "GET", b"/v1/users?limit=-1", 400, "invalid_query", auth="admin"),
    Case(
        "users: limit twice",
        "GET",
        b"/v1/users?limit=1&limit=2",
        400,
        "invalid_query",
        auth="admin",
    ),
    Case(
        "users: a forged cursor",
        "GET",
        b"/v1/users?cursor=%27%20OR%201%3D1",
        400,
        "invalid_cursor",
        auth="admin",
    ),
    Case(
        "users: SQL in an unknown parameter",
        "GET",
        b"/v1/users?after=%27%20OR%20%271%27%3D%271",
        400,
        "invalid_query",
        auth="admin",
    ),
    # --- queries ---------------------------------------------------------------------------
    Case(
        "latency: since 1e309",
        "GET",
        b"/v1/latency?since=" + HUGE,
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "latency: SQL in since",
        "GET",
        b"/v1/latency?since=%27%20OR%201%3D1--",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "latency: SQL in group_by",
        "GET",
        b"/v1/latency?group_by=source%3BDROP%20TABLE%20x",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "latency: a 20-digit limit",
        "GET",
        b"/v1/latency?limit=99999999999999999999",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "latency: until before since",
        "GET",
        b"/v1/latency?since=2000000000&until=1000000000",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "latency: invalid UTF-8 in the query",
        "GET",
        b"/v1/latency?group_by=%ff%fe",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "series: step 0", "GET", b"/v1/latency/series?step=0", 400, "invalid_query", auth="viewer"
    ),
    Case(
        "series: negative step",
        "GET",
        b"/v1/latency/series?step=-60",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "series: step 2**63",
        "GET",
        b"/v1/latency/series?step=" + BIG,
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case("ip: not an address", "GET", b"/v1/ip/not-an-ip", 400, "invalid", auth="viewer"),
    Case(
        "ip: SQL", "GET", b"/v1/ip/1.2.3.4%27%20OR%20%271%27%3D%271", 400, "invalid", auth="viewer"
    ),
    Case("ip: NUL", "GET", b"/v1/ip/%00", 400, "invalid", auth="viewer"),
    Case("ip: traversal", "GET", b"/v1/ip/..%2F..%2Fetc%2Fpasswd", 404, "not_found", auth="viewer"),
    Case(
        "matrix: 0 sources",
        "GET",
        b"/v1/latency/matrix?sources=0",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "matrix: 201 sources",
        "GET",
        b"/v1/latency/matrix?sources=201",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "matrix: an unknown dest_by",
        "GET",
        b"/v1/latency/matrix?dest_by=planet",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "matrix: a forged cursor",
        "GET",
        b"/v1/latency/matrix?cursor=%00%01",
        400,
        "invalid_cursor",
        auth="viewer",
    ),
    Case("export: a format", "GET", b"/v1/export?format=xlsx", 400, "invalid_query", auth="viewer"),
    Case(
        "export: since after until",
        "GET",
        b"/v1/export?since=1h&until=2h",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "export: group_by and dest_by",
        "GET",
        b"/v1/export?group_by=pair&dest_by=asn",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case("export: empty probe", "GET", b"/v1/export?probe=", 400, "invalid_query", auth="viewer"),
    Case("search: no q", "GET", b"/v1/search", 400, "invalid_query", auth="viewer"),
    Case("search: empty q", "GET", b"/v1/search?q=", 400, "invalid_query", auth="viewer"),
    Case(
        "search: a 300-char q",
        "GET",
        b"/v1/search?q=" + b"x" * 300,
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case(
        "countries: with_data=maybe",
        "GET",
        b"/v1/countries?with_data=maybe",
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case("cities: limit 0", "GET", b"/v1/cities?limit=0", 400, "invalid_query", auth="viewer"),
    Case(
        "asns: a garbage cursor",
        "GET",
        b"/v1/asns?cursor=%ff%fe%fd",
        400,
        "invalid_cursor",
        auth="viewer",
    ),
    Case(
        "groups: limit 1e309",
        "GET",
        b"/v1/groups?limit=" + HUGE,
        400,
        "invalid_query",
        auth="viewer",
    ),
    Case("groups: an unknown group", "GET", b"/v1/groups/nope", 404, "not_found", auth="viewer"),
    Case(
        "groups: SQL in the name",
        "GET",
        b"/v1/groups/x%27%3B%20DROP%20TABLE%20groups%3B--",
        404,
        "not_found",
        auth="viewer",
    ),
    Case(
        "groups: an empty location name",
        "PUT",
        b"/v1/groups/g2",
        400,
        "invalid_body",
        auth="operator",
        body=j({"locations": [""]}),
    ),
    Case(
        "groups: an unknown location",
        "PUT",
        b"/v1/groups/g2",
        400,
        "invalid",
        auth="operator",
        body=j({"locations": ["nowhere"]}),
    ),
    Case(
        "groups: a string for a list",
        "PUT",
        b"/v1/groups/g2",
        400,
        "invalid_body",
        auth="operator",
        body=j({"locations": "lab"}),
    ),
    Case(
        "groups: a 300-char name",
        "PUT",
        b"/v1/groups/" + b"g" * 300,
        400,
        "invalid",
        auth="operator",
        body=j({"locations": ["lab"]}),
    ),
    Case(
        "groups: NUL in the name",
        "PUT",
        b"/v1/groups/g%002",
        400,
        "invalid",
        auth="operator",
        body=j({"locations": ["lab"]}),
    ),
    Case(
        "groups: nested 10k deep",
        "PUT",
        b"/v1/groups/g2",
        400,
        "invalid_body",
        auth="operator",
        body=nested(10_000),
    ),
    Case(
        "groups: delete an unknown group",
        "DELETE",
        b"/v1/groups/nope",
        404,
        "not_found",
        auth="operator",
    ),
    # --- admin ----------------------------------------------------------------------------
    Case(
        "admin: a probe name with spaces",
        "POST",
        b"/v1/admin/probes",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "BAD NAME", "location": "lab"}),
    ),
    Case(
        "admin: a path-like probe name",
        "POST",
        b"/v1/admin/probes",
        400,
        "invalid_body",
        auth="admin",
        body=j({"name": "../etc", "location": "lab"}),
    ),
    Case(
        "admin: an unknown location",
        "POST",
        b"/v1/admin/probes",
        404,
        "not_found",
        auth="admin",
        body=j({"name": "newp", "location": "nowhere"}),
    ),
    Case(
        "admin: an existing probe",
        "POST",
        b"/v1/admin/probes",
        409,
        "conflict",
        auth="admin",
        body=j({"name": "p1", "location": "lab"}),
    ),
    Case(
        "admin: text/plain",
        "POST",
        b"/v1/admin/probes",
        415,
        "unsupported_media_type",
        auth="admin",
        body=b"name=newp",
        content_type="text/plain",
    ),
    Case(
        "admin: rotate nobody",
        "POST",
        b"/v1/admin/probes/nope/rotate-token",
        404,
        "not_found",
        auth="admin",
    ),
    Case(
        "admin: enable nobody",
        "POST",
        b"/v1/admin/probes/nope/enable",
        404,
        "not_found",
        auth="admin",
    ),
    Case(
        "admin: disable through ..",
        "POST",
        b"/v1/admin/probes/%2e%2e/disable",
        404,
        "not_found",
        auth="admin",
    ),
    Case(
        "admin: pause from a cookie form",
        "POST",
        b"/v1/admin/pause",
        415,
        "unsupported_media_type",
        auth="cookie:viewer",
        body=b"",
        content_type="text/plain",
    ),
    # --- the probe protocol ---------------------------------------------------------------
    *[
        Case(
            f"poll: max_jobs {what}",
            "POST",
            b"/v1/probe/poll",
            400,
            "invalid_body",
            auth="p3",
            body=b'{"max_jobs": ' + value + b"}",
        )
        for what, value in [
            ("0", b"0"),
            ("101", b"101"),
            ("2**63", BIG),
            ("-1", b"-1"),
            ("1e309", HUGE),
            ("as text", b'"1"'),
            ("1.5", b"1.5"),
        ]
    ],
    Case(
        "poll: an unknown field",
        "POST",
        b"/v1/probe/poll",
        400,
        "invalid_body",
        auth="p3",
        body=j({"max_jobs": 1, "source": "lab"}),
    ),
    Case(
        "poll: nested 10k deep",
        "POST",
        b"/v1/probe/poll",
        400,
        "invalid_body",
        auth="p3",
        body=nested(10_000),
    ),
    Case(
        "poll: chunked over the limit",
        "POST",
        b"/v1/probe/poll",
        413,
        "body_too_large",
        auth="p3",
        body=b" " * (MAX_BODY + 1) + b"{}",
        chunked=True,
    ),
    Case(
        "reports: a forged lease",
        "POST",
        b"/v1/probe/reports",
        404,
        "unknown_lease",
        auth="p1",
        body=submission(report(), lease="forged-0000"),
    ),
    Case(
        "reports: another probe's lease",
        "POST",
        b"/v1/probe/reports",
        409,
        "foreign_lease",
        auth="p2",
        body=submission(report()),
    ),
    Case(
        "reports: an expired lease",
        "POST",
        b"/v1/probe/reports",
        404,
        "unknown_lease",
        auth="p1",
        body=submission(report(job_id="j2"), lease="@OLD_LEASE@"),
        expired=True,
    ),
    Case(
        "reports: a stored id, other content",
        "POST",
        b"/v1/probe/reports",
        409,
        "report_conflict",
        auth="p1",
        body=submission(report(report_id="r1")),
    ),
    Case(
        "reports: a discovery lease",
        "POST",
        b"/v1/probe/reports",
        422,
        "spec_mismatch",
        auth="p1",
        body=submission(report(), lease="@DISC_LEASE@"),
    ),
    Case(
        "reports: SQL as a target",
        "POST",
        b"/v1/probe/reports",
        422,
        "spec_mismatch",
        auth="p1",
        body=submission(
            report(spec={"targets": ["'; DROP TABLE windows; --"], "count": 4, "period_ms": 100})
        ),
    ),
    Case(
        "reports: a path-like report id",
        "POST",
        b"/v1/probe/reports",
        422,
        "invalid_report",
        auth="p1",
        body=submission(report(report_id="../../r1")),
    ),
    Case(
        "reports: NUL in the report id",
        "POST",
        b"/v1/probe/reports",
        422,
        "invalid_report",
        auth="p1",
        body=submission(report(report_id="r\x002")),
    ),
    Case(
        "reports: negative sent",
        "POST",
        b"/v1/probe/reports",
        422,
        "invalid_report",
        auth="p1",
        body=submission(
            report(results=[{"target": "10.231.0.1", "sent": -4, "received": 0, "rtts_us": []}])
        ),
    ),
    Case(
        "reports: received over sent",
        "POST",
        b"/v1/probe/reports",
        422,
        "invalid_report",
        auth="p1",
        body=submission(
            report(
                results=[
                    {"target": "10.231.0.1", "sent": 4, "received": 9, "rtts_us": [1, 2, 3, 4]}
                ]
            )
        ),
    ),
    Case(
        "reports: an RTT of 2**63",
        "POST",
        b"/v1/probe/reports",
        422,
        "invalid_report",
        auth="p1",
        body=submission(
            report(results=[{"target": "10.231.0.1", "sent": 1, "received": 1, "rtts_us": [2**63]}])
        ),
    ),
    Case(
        "reports: an RTT of 1e309",
        "POST",
        b"/v1/probe/reports",
        400,
        "invalid_body",
        auth="p1",
        body=submission(report()).replace(b"[1000,", b"[" + HUGE + b",", 1),
    ),
    Case(
        "reports: started_at 2**64",
        "POST",
        b"/v1/probe/reports",
        422,
        "clock_skew",
        auth="p1",
        body=submission(report()).replace(b"@NOW@", str(2**64).encode()),
    ),
    Case(
        "reports: started_at negative",
        "POST",
        b"/v1/probe/reports",
        422,
        "clock_skew",
        auth="p1",
        body=submission(report()).replace(b"@NOW@", b"-1"),
    ),
    Case(
        "reports: neither report nor discovery",
        "POST",
        b"/v1/probe/reports",
        400,
        "invalid",
        auth="p1",
        body=submission(),
    ),
    Case(
        "reports: a 10k-char lease id",
        "POST",
        b"/v1/probe/reports",
        400,
        "invalid_body",
        auth="p1",
        body=submission(report(), lease="L" * 10_000),
    ),
    Case(
        "reports: a lease id with a slash",
        "POST",
        b"/v1/probe/reports",
        400,
        "invalid_body",
        auth="p1",
        body=submission(report(), lease="../@LEASE@"),
    ),
    Case(
        "reports: nested 10k deep",
        "POST",
        b"/v1/probe/reports",
        400,
        "invalid_body",
        auth="p1",
        body=b'{"lease_id": "x", "report": ' + nested(10_000) + b"}",
    ),
    Case(
        "reports: a body over the limit",
        "POST",
        b"/v1/probe/reports",
        413,
        "body_too_large",
        auth="p1",
        body=submission(report(), pad="x" * MAX_BODY),
    ),
    Case(
        "reports: a chunked body over the limit",
        "POST",
        b"/v1/probe/reports",
        413,
        "body_too_large",
        auth="p1",
        body=submission(report(), pad="x" * MAX_BODY),
        chunked=True,
    ),
    Case(
        "reports: form-encoded",
        "POST",
        b"/v1/probe/reports",
        415,
        "unsupported_media_type",
        auth="p1",
        body=b"lease_id=x",
        content_type="application/x-www-form-urlencoded",
    ),
    *[
        Case(f"discovery: {what}", "POST", b"/v1/probe/reports", status, code, auth="p1", body=body)
        for what, status, code, body in [
            (
                "an address outside the range",
                422,
                "invalid_report",
                discovery_submission(found=["10.231.0.9"]),
            ),
            (
                "more than max_hosts",
                422,
                "invalid_report",
                discovery_submission(found=[f"10.231.0.{i}" for i in range(9)]),
            ),
            (
                "one address 10k times",
                422,
                "invalid_report",
                discovery_submission(found=["10.231.0.1"] * 10_000),
            ),
            (
                "SQL as an address",
                422,
                "invalid_report",
                discovery_submission(found=["' OR 1=1 --"]),
            ),
            ("IPv6 in an IPv4 range", 422, "invalid_report", discovery_submission(found=["::1"])),
            (
                "the whole Internet",
                422,
                "spec_mismatch",
                discovery_submission(spec={"start": "0.0.0.0/0", "max_hosts": 8}),
            ),
            (
                "negative max_hosts",
                400,
                "invalid_body",
                discovery_submission(spec={"start": "x", "max_hosts": -1}),
            ),
            ("on a latency lease", 422, "spec_mismatch", discovery_submission(lease="@LEASE@")),
        ]
    ],
    *[
        Case(
            f"heartbeat: {what}",
            "POST",
            b"/v1/probe/heartbeat",
            400,
            "invalid_body",
            auth="p3",
            body=body,
        )
        for what, body in [
            ("a string for a bool", j({"fping_can_send": "yes"})),
            ("negative jobs", j({"fping_can_send": True, "jobs_running": -1})),
            ("jobs 2**63", j({"fping_can_send": True, "jobs_running": 2**63})),
            ("a 65-char version", j({"fping_can_send": True, "agent_version": "v" * 65})),
            ("nothing", b"{}"),
            ("NUL bytes", b'{"fping_can_send": true, "agent_version": "\x00\x00"}'),
        ]
    ],
    Case("probes: limit 0", "GET", b"/v1/probes?limit=0", 400, "invalid_query", auth="viewer"),
    Case(
        "probes: limit 2**63",
        "GET",
        b"/v1/probes?limit=" + BIG,
        400,
        "invalid_query",
        auth="viewer",
    ),
    # --- console and the rest --------------------------------------------------------------
    Case("console: ../ raw", "GET", _v("../index.html"), 404, "not_found"),
    Case("console: %2e%2e", "GET", _v("%2e%2e/%2e%2e/pyproject.toml"), 404, "not_found"),
    Case(
        "console: an encoded slash", "GET", _v("js%2F..%2F..%2F..%2Fapi%2Fapp.py"), 404, "not_found"
    ),
    Case("console: backslashes", "GET", _v("..%5c..%5capp.py"), 404, "not_found"),
    Case("console: NUL", "GET", _v("app.js%00.html"), 404, "not_found"),
    Case("console: invalid UTF-8", "GET", _v("%ff%fe"), 404, "not_found"),
    Case(
        "console: another version", "GET", b"/console/0000000000000000/index.html", 404, "not_found"
    ),
    Case("console: the page as an asset", "GET", _v("index.html"), 404, "not_found"),
    Case("console: an absolute path", "GET", _v("%2Fetc%2Fpasswd"), 404, "not_found"),
    Case("console: POST /", "POST", b"/", 405, "method_not_allowed", body=b"{}"),
    Case("healthz: DELETE", "DELETE", b"/healthz", 405, "method_not_allowed"),
    Case("openapi: POST", "POST", b"/v1/openapi.json", 405, "method_not_allowed", body=b"{}"),
    Case("an unknown route", "GET", b"/v1/../../etc/passwd", 404, "not_found"),
    Case("an unknown API version", "GET", b"/v2/me", 404, "not_found", auth="viewer"),
]


# Hostile-looking requests that are legitimate: answered 200 with nothing found, and still
# no change to any store.
HARMLESS: list[tuple[str, bytes]] = [
    ("search: SQL", b"/v1/search?q=%27%20OR%201%3D1%20--"),
    ("search: NUL and unicode", b"/v1/search?q=%00%E2%80%AE%F0%9F%92%A9"),
    ("latency: SQL probe name", b"/v1/latency?probe=x%27%20OR%20%271%27%3D%271"),
]


def all_cases() -> list[Case]:
    cases = route_cases() + SPECIFIC
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases
