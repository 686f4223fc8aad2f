"""Routes as data: an :class:`Operation` (method, path, auth, body/query/response types) and
a handler taking a :class:`Call`. The same operations feed the OpenAPI document.

A handler never parses JSON or checks a token by hand: :meth:`Call.body` decodes and
validates the body into its msgspec type (size-capped, ``application/json`` only),
:meth:`Call.query` the query string, and the route wrapper authenticates before the handler
runs, according to ``Operation.auth``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.errors import ApiError, from_api_error, from_cloudperf_error
from cloudperf_core.catalog import Probe
from cloudperf_core.errors import CloudperfError, InvalidSpecError
from cloudperf_core.models import Session

T = TypeVar("T")
# "scraper": the metrics token (settings.metrics_token) or a viewer session.
Auth = Literal["none", "probe", "scraper", "viewer", "operator", "admin"]
MAX_RESPONSE_BYTES = 1_000_000  # the ALB's limit; pages are sized to stay well below it
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Operation:
    """One HTTP operation: what it takes, what it answers, who may call it."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    summary: str
    auth: Auth
    tag: str
    body: Any = None  # a msgspec type, or None
    query: Any = None  # a msgspec Struct of query parameters, or None
    response: Any = None  # a msgspec type, or None for an empty body
    status: int = 200
    errors: tuple[int, ...] = ()  # the 4xx/5xx statuses worth documenting
    produces: str | None = None  # the media type of a non-JSON response (response=None)


class Call:
    """One request to one operation, with the helpers a handler needs."""

    def __init__(self, request: Request, ctx: ApiContext, op: Operation) -> None:
        self.request = request
        self.ctx = ctx
        self.op = op
        self.probe: Probe | None = None  # set for auth="probe"
        self.session: Session | None = None  # set for user roles

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    async def body(self, type_: type[T]) -> T:
        """The JSON body as ``type_``: 415 unless JSON, 413 over the limit, 400 if invalid."""
        content_type = self.request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        limit = self.ctx.settings.max_body_bytes
        declared = self.request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ApiError(413, "body_too_large", f"the body must be at most {limit} bytes")
        data = bytearray()
        try:
            async for chunk in self.request.stream():
                data += chunk
                if len(data) > limit:
                    raise ApiError(413, "body_too_large", f"the body must be at most {limit} bytes")
        except ClientDisconnect:
            # The client went away mid-body: nobody reads this answer; it must not be a 500
            # (a traceback in the server's log) for what is the client's doing.
            raise ApiError(400, "client_disconnected", "the body ended early") from None
        try:
            return msgspec.json.decode(data, type=type_)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ApiError(400, "invalid_body", str(exc)) from exc

    def query(self, type_: type[T]) -> T:
        """The query string as ``type_`` (repeated parameters fill list/tuple fields)."""
        return parse_query(self.request, type_)

    def json(
        self, value: Any, status: int | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        body = _encoder.encode(value)
        if len(body) > MAX_RESPONSE_BYTES:
            raise ApiError(500, "response_too_large", "internal error: narrow the query")
        return Response(
            body,
            status_code=status or self.op.status,
            headers=headers,
            media_type="application/json",
        )

    def empty(self, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return Response(status_code=status, headers=headers)


Handler = Callable[[Call], Awaitable[Response]]
Authorizer = Callable[[Call], Awaitable[None]]


@dataclass(frozen=True)
class ApiRoute:
    op: Operation
    handler: Handler

    def to_route(self, authorize: Authorizer) -> Route:
        op, handler = self.op, self.handler

        async def run(request: Request) -> Response:
            call = Call(request, request.app.state.ctx, op)
            try:
                await authorize(call)
                response = await handler(call)
            except ApiError as exc:
                response = from_api_error(exc)
            except CloudperfError as exc:
                response = from_cloudperf_error(exc)
            if op.auth != "none":
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return Route(op.path, run, methods=[op.method], name=f"{op.method} {op.path}")


def endpoint(op: Operation) -> Callable[[Handler], ApiRoute]:
    """Decorator: ``@endpoint(Operation(...))`` turns a handler into an :class:`ApiRoute`."""

    def wrap(handler: Handler) -> ApiRoute:
        return ApiRoute(op, handler)

    return wrap


def _sequence_fields(type_: Any) -> set[str]:
    info = msgspec.inspect.type_info(type_)
    if not isinstance(info, msgspec.inspect.StructType):
        raise InvalidSpecError(f"query parameters must be a Struct, not {type_!r}")
    out = set()
    for f in info.fields:
        kinds = f.type.types if isinstance(f.type, msgspec.inspect.UnionType) else (f.type,)
        seq = (msgspec.inspect.ListType, msgspec.inspect.VarTupleType, msgspec.inspect.SetType)
        if any(isinstance(k, seq) for k in kinds):
            out.add(f.encode_name)
    return out


def parse_query(request: Request, type_: type[T]) -> T:
    multi = _sequence_fields(type_)
    params = request.query_params
    values: dict[str, Any] = {}
    for key in params:
        got = params.getlist(key)
        if key in multi:
            values[key] = got
        elif len(got) > 1:
            raise ApiError(400, "invalid_query", f"query parameter {key!r} given {len(got)} times")
        else:
            values[key] = got[0]
    try:
        return msgspec.convert(values, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from exc
