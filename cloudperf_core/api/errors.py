"""Every API error is ``{"error": code, "detail": reason}`` with the right status.

:class:`ApiError` is raised by route code for HTTP-level refusals; :data:`ERROR_STATUS` maps
the core's ``CloudperfError`` subclasses to statuses in one table (most specific first).
A 500 never carries internal detail.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.responses import Response

from cloudperf_core.errors import (
    AuthError,
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ClockSkewError,
    CloudperfError,
    ConflictError,
    ForeignLeaseError,
    InvalidSpecError,
    NotFoundError,
    RateLimitedError,
    ReportConflictError,
    ReportRejectedError,
    SpecMismatchError,
    UnknownLeaseError,
    WrongPasswordError,
)

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()


class ErrorBody(msgspec.Struct, frozen=True):
    """The body of every error response."""

    error: str
    detail: str


class ApiError(Exception):
    """An HTTP refusal with a stable ``code`` and a reason safe to show the caller."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


# (error class, status, code): the first class the error is an instance of wins.
ERROR_STATUS: tuple[tuple[type[CloudperfError], int, str], ...] = (
    (WrongPasswordError, 403, "wrong_password"),  # signed in; not a reason to sign out
    (AuthError, 401, "unauthenticated"),
    (UnknownLeaseError, 404, "unknown_lease"),
    (NotFoundError, 404, "not_found"),
    (ForeignLeaseError, 409, "foreign_lease"),
    (ReportConflictError, 409, "report_conflict"),
    (ConflictError, 409, "conflict"),
    (RateLimitedError, 429, "rate_limited"),
    (SpecMismatchError, 422, "spec_mismatch"),
    (ClockSkewError, 422, "clock_skew"),
    (ReportRejectedError, 422, "invalid_report"),
    (InvalidSpecError, 400, "invalid"),
    (BackendUnavailableError, 503, "unavailable"),
    (BackendConfigError, 500, "internal"),
    (BackendError, 500, "internal"),
)


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _encoder.encode(ErrorBody(error=code, detail=detail)),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def from_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


def from_cloudperf_error(exc: CloudperfError) -> Response:
    status, code = next(
        ((s, c) for cls, s, c in ERROR_STATUS if isinstance(exc, cls)), (500, "internal")
    )
    if status >= 500:
        # The detail of a server-side failure stays in the log (never a secret: adapters
        # redact URLs), the caller gets a generic reason.
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        detail = "the service is unavailable, try again" if status == 503 else "internal error"
        headers = {"Retry-After": "5"} if status == 503 else None
        return error_response(status, code, detail, headers)
    detail = exc.reason if isinstance(exc, ReportRejectedError) else str(exc)
    if isinstance(exc, RateLimitedError):
        return error_response(status, code, detail, {"Retry-After": str(exc.retry_after_s)})
    return error_response(status, code, detail)


def internal_error() -> Response:
    return error_response(500, "internal", "internal error")
