"""Who is calling: probe tokens, user sessions (bearer or cookie), roles, client address.

:func:`authorize` runs before every handler, as the operation's ``auth`` says:
``probe`` needs a probe token of an enabled probe; ``scraper`` (``GET /metrics``) the
metrics token of the settings or else what ``viewer`` needs; ``viewer``/``operator``/``admin``
need a live session of a user who still exists and whose CURRENT role (from the catalogue, not the
one at login) is at least that, and that was not ended by a later password change. Every
refusal is a 401/403 with a reason; which part of a token was wrong is never said.

A session presented as the cookie (a browser) may change state only with
``Content-Type: application/json``, which a cross-site form cannot send (on top of the
cookie's SameSite=Strict); a bearer token is never sent by a browser on its own.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from cloudperf_core.api.errors import ApiError
from cloudperf_core.api.http import Call
from cloudperf_core.auth import (
    looks_like_session_token,
    probe_id_of,
    role_allows,
    token_hash,
    token_matches,
)
from cloudperf_core.catalog import Probe, Role
from cloudperf_core.models import Session
from cloudperf_core.service.users import session_is_current

SESSION_COOKIE = "cloudperf_session"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "use Authorization: Bearer <token>", _CHALLENGE)
    return token.strip()


def _unauthenticated(what: str) -> ApiError:
    return ApiError(401, "unauthenticated", f"a valid {what} is required", _CHALLENGE)


async def authenticate_probe(call: Call) -> Probe:
    token = bearer_token(call.request)
    probe_id = probe_id_of(token) if token else None
    if token is None or probe_id is None:
        raise _unauthenticated("probe token")
    catalog = await call.ctx.services.catalog()
    probe = await catalog.get_probe(probe_id)
    if probe is None or not token_matches(token, probe.token_hash):
        raise _unauthenticated("probe token")
    if not probe.enabled:
        raise ApiError(403, "probe_disabled", "this probe is disabled")
    return probe


def session_token(request: Request) -> str | None:
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE)


def is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def check_cookie_write(request: Request) -> None:
    """415 for a state-changing request authenticated by the cookie without a JSON type."""
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and request.headers.get("authorization") is None
        and request.cookies.get(SESSION_COOKIE) is not None
        and not is_json(request)
    ):
        raise ApiError(
            415, "unsupported_media_type", "send state-changing requests as application/json"
        )


async def authenticate_user(call: Call, minimum: Role) -> Session:
    token = session_token(call.request)
    if token is None or not looks_like_session_token(token):
        raise _unauthenticated("session (log in at POST /v1/login)")
    check_cookie_write(call.request)
    sessions = await call.ctx.services.sessions()
    session = await sessions.get(token_hash(token))
    if session is None:
        raise _unauthenticated("session (log in at POST /v1/login)")
    catalog = await call.ctx.services.catalog()
    user = await catalog.get_user(session.user)
    if user is None or not await session_is_current(await call.ctx.services.cache(), session):
        await sessions.revoke(session.token_hash)
        raise _unauthenticated("session (log in at POST /v1/login)")
    if not role_allows(user.role, minimum):
        raise ApiError(403, "forbidden", f"this needs the {minimum} role")
    return session


def is_scrape_token(call: Call) -> bool:
    """Whether the bearer token is the configured metrics token (compared in constant time)."""
    expected = call.ctx.settings.metrics_token
    token = bearer_token(call.request)
    return (
        bool(expected)
        and token is not None
        and hmac.compare_digest(token.encode(), expected.encode())
    )


async def authorize(call: Call) -> None:
    auth = call.op.auth
    if auth == "none":
        return
    if auth == "probe":
        call.probe = await authenticate_probe(call)
    elif auth == "scraper":
        if not is_scrape_token(call):
            call.session = await authenticate_user(call, "viewer")
    else:
        call.session = await authenticate_user(call, auth)


def client_address(call: Call) -> str:
    """The caller's address: the socket peer, or the last X-Forwarded-For hop behind an ALB.

    Only the last hop is trusted (the one the ALB appended); earlier hops are the client's
    own claims.
    """
    request = call.request
    if call.ctx.settings.trusted_proxy == "alb":
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.client.host if request.client else "unknown"
