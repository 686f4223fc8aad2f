"""The HTTP API as an ASGI app (Starlette), the same on AWS Lambda (through Mangum) and under
``cloudperf serve`` (uvicorn).

>>> app = create_app(ApiContext(services=Services(Config.from_env())))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.errors import error_response, internal_error
from cloudperf_core.api.http import ApiRoute
from cloudperf_core.api.openapi import build_openapi
from cloudperf_core.api.routes import (
    admin,
    catalog,
    console,
    exports,
    matrix,
    meta,
    probe,
    queries,
    status,
    users,
)
from cloudperf_core.api.security import authorize

log = logging.getLogger(__name__)
API_TITLE = "cloudperf"
API_VERSION = "1"


def all_routes() -> list[ApiRoute]:
    """Every operation of the API, in the order the OpenAPI document lists them."""
    return [
        *meta.ROUTES,
        *users.ROUTES,
        *queries.ROUTES,
        *matrix.ROUTES,
        *exports.ROUTES,
        *catalog.ROUTES,
        *status.ROUTES,
        *admin.ROUTES,
        *probe.ROUTES,
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = {404: "no such route", 405: "method not allowed on this route"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(exc.status_code, code, detail, dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette's ServerErrorMiddleware calls this for anything a route did not handle,
    # then re-raises so the server logs the traceback; the caller sees no internals.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return internal_error()


def create_app(ctx: ApiContext, routes: Sequence[ApiRoute] | None = None) -> Starlette:
    """The ASGI app over ``ctx``'s services. ``routes`` defaults to :func:`all_routes`; the
    web console's static files (:mod:`cloudperf_core.api.routes.console`) are always served."""
    chosen = list(routes) if routes is not None else all_routes()
    app = Starlette(
        routes=[*(r.to_route(authorize) for r in chosen), *console.ROUTES],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.ctx = ctx
    app.state.openapi = msgspec.json.encode(
        build_openapi([r.op for r in chosen], title=API_TITLE, version=API_VERSION)
    )
    return app
