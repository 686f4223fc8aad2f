"""``lambda_entry.api.handler``: the HTTP API and the web console behind an ALB or API Gateway.

The same ASGI app as ``cloudperf serve`` (:func:`cloudperf_core.api.app.create_app`), run by
Mangum on the container's event loop: ALB events (single- or multi-value headers) and API
Gateway HTTP API (payload 2.0) events. Bodies that are not text (gzipped assets, images) go
back base64-encoded. Built once per container, on the first request (the database secret is
read then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_entry._runtime import make_logger, runtime

if TYPE_CHECKING:
    from mangum import Mangum

logger = make_logger("api")
_adapter: Mangum | None = None


def _mangum() -> Mangum:
    global _adapter
    if _adapter is None:
        from mangum import Mangum

        from cloudperf_core.api.app import create_app
        from cloudperf_core.api.context import ApiContext

        services = runtime.run(runtime.services)
        app = create_app(ApiContext(services=services, settings=services.config.settings))
        # Mangum runs each request with run_until_complete on the thread's current loop,
        # which is the container's (the runtime made it current above).
        _adapter = Mangum(app, lifespan="off")
    return _adapter


def _request_id(event: dict[str, Any]) -> str | None:
    """API Gateway's request id, or the ALB's trace id: what a client can quote."""
    context = event.get("requestContext") or {}
    if "requestId" in context:
        return str(context["requestId"])
    headers = event.get("headers") or {}
    trace = next((v for k, v in headers.items() if k.lower() == "x-amzn-trace-id"), None)
    if trace is None:
        multi = event.get("multiValueHeaders") or {}
        trace = next((v[-1] for k, v in multi.items() if k.lower() == "x-amzn-trace-id"), None)
    return None if trace is None else str(trace)


@logger.inject_lambda_context(clear_state=True, log_event=False)  # bearer tokens, passwords
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(_request_id(event))
    return _mangum()(event, context)
