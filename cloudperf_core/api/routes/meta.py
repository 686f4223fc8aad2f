"""Liveness and the OpenAPI document."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint


class Health(msgspec.Struct, frozen=True):
    status: str


@endpoint(
    Operation(
        "GET", "/healthz", "Liveness: the process answers", "none", "meta", None, None, Health
    )
)
async def healthz(call: Call) -> Response:
    # Deliberately touches no backend: a load balancer must not take every instance out of
    # service because a database is slow (GET /v1/status says how the backends are).
    return call.json(Health(status="ok"))


@endpoint(Operation("GET", "/v1/openapi.json", "This API's OpenAPI 3.1 document", "none", "meta"))
async def openapi(call: Call) -> Response:
    return Response(call.request.app.state.openapi, media_type="application/json")


ROUTES: list[ApiRoute] = [healthz, openapi]
