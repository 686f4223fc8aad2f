"""The OpenAPI 3.1 document, generated from the operations and their msgspec types.

Nothing here is written by hand per route: each :class:`~cloudperf_core.api.http.Operation`
contributes its path, method, auth, query parameters (the fields of its query Struct),
request body and response schemas (``msgspec.json.schema_components``), and the error
statuses it documents (all with the shared ``ErrorBody``): its own ``errors``, plus
401/403/503 for every authenticated operation, 415 for a user's state change (cookie
sessions write only with JSON), 400/413/415 for a body, 400 for a query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from cloudperf_core.api.errors import ErrorBody
from cloudperf_core.api.http import Operation

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "probe": [{"probeToken": []}],
    "viewer": [{"sessionToken": []}, {"sessionCookie": []}],
    "scraper": [{"metricsToken": []}, {"sessionToken": []}, {"sessionCookie": []}],
}
_REASONS = {
    400: "Malformed or invalid request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Not JSON",
    422: "Semantically invalid",
    429: "Rate limited",
    503: "Backend unavailable, retry later",
}


def build_openapi(ops: Sequence[Operation], *, title: str, version: str) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for op in ops:
        types.extend(t for t in (op.body, op.query, op.response) if t is not None)
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template=_REF)
    schema_of = dict(zip(unique, schemas, strict=True))
    error_ref = schema_of[ErrorBody]

    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        path = _PATH_PARAM.sub(r"{\1}", op.path)
        item: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{_slug(op.path)}",
            "tags": [op.tag],
            "security": _SECURITY.get(op.auth, _SECURITY["viewer"]),
            "responses": _responses(op, schema_of, error_ref),
        }
        if op.auth in ("operator", "admin"):
            item["description"] = f"Requires the {op.auth} role."
        params = [_path_param(name) for name in _PATH_PARAM.findall(op.path)]
        if op.query is not None:
            params.extend(_query_params(schema_of[op.query], components))
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[op.body]}},
            }
        paths.setdefault(path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "probeToken": {"type": "http", "scheme": "bearer", "description": "cpp_..."},
                "sessionToken": {"type": "http", "scheme": "bearer", "description": "cps_..."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "cloudperf_session"},
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "CLOUDPERF_METRICS_TOKEN",
                },
            },
        },
    }


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def _responses(
    op: Operation, schema_of: dict[Any, Any], error_ref: dict[str, Any]
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK" if op.status < 300 else "Accepted"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": schema_of[op.response]}}
    elif op.produces is not None:
        ok["content"] = {op.produces: {"schema": {"type": "string"}}}
    out: dict[str, Any] = {str(op.status): ok}
    statuses = set(op.errors)
    if op.auth != "none":
        # Authenticating reads the catalogue and the sessions: a backend may be down.
        statuses |= {401, 403, 503}
    if op.auth not in ("none", "probe") and op.method != "GET":
        statuses.add(415)  # a browser's cookie session writes only with a JSON content type
    if op.body is not None:
        statuses |= {400, 413, 415}
    if op.query is not None:
        statuses.add(400)
    for status in sorted(statuses):
        out[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": error_ref}},
        }
    return out


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query_params(ref: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = components[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
