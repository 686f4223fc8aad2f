"""One error tree for everything cloudperf raises.

Adapters translate driver exceptions into these at their boundary (``raise ... from exc``);
callers catch :class:`CloudperfError` or one of its subclasses, never driver types.
"""

from __future__ import annotations


class CloudperfError(Exception):
    """Root of every error cloudperf raises on purpose."""


class InvalidSpecError(CloudperfError, ValueError):
    """A probe or discovery spec, a target, or an option is not acceptable."""


class FpingParseError(CloudperfError):
    """A line of fping output could not be understood (strict mode).

    Carries the 1-based ``line_no`` and the offending ``line`` so the user can find it.
    """

    def __init__(self, line_no: int, line: str, reason: str = "unrecognised line") -> None:
        self.line_no = line_no
        self.line = line
        self.reason = reason
        super().__init__(f"fping output line {line_no}: {reason}: {line!r}")


class FpingNotFoundError(CloudperfError):
    """The fping binary is missing."""


class FpingError(CloudperfError):
    """fping refused to run (usage error) or failed (system error); carries its message."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class ProbePermissionError(FpingError):
    """fping ran but could not send probes (e.g. no raw-socket permission)."""


class RunnerTimeoutError(CloudperfError):
    """An fping batch did not finish before its deadline; the process was killed."""


class ReportRejectedError(CloudperfError):
    """A report failed validation; ``reason`` is safe to return to the sender (4xx)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StoreLimitError(ReportRejectedError):
    """A report would push a stored window past what every store can hold (see ``limits``)."""


class MessageDecodeError(CloudperfError):
    """A queue message's body is not in the encoding its attributes announce."""


class BackendError(CloudperfError):
    """A storage, queue or cache backend failed in a way a retry will not fix."""


class BackendUnavailableError(BackendError):
    """A transient backend failure (connection refused, timeout, throttling): safe to retry."""


class BackendConfigError(BackendError):
    """A backend URL or option is wrong, or no adapter is installed for its scheme."""


class NotFoundError(CloudperfError):
    """A requested object (lease, job, user, probe) does not exist or has expired."""


class ConflictError(CloudperfError):
    """The request conflicts with what exists (a name taken, a lease held by another)."""


class ListenError(CloudperfError):
    """``cloudperf serve`` cannot listen on the address and port asked for."""


# --- the probe protocol (server side) --------------------------------------------------------


class UnknownLeaseError(NotFoundError):
    """A report names a lease the API never handed out (or forgot: the ledger's TTL passed)."""


class ForeignLeaseError(ConflictError):
    """A report names a lease that was handed to another probe."""


class ReportConflictError(ConflictError):
    """A report id was accepted before with other content."""


class SpecMismatchError(ReportRejectedError):
    """A report's kind, spec or targets differ from the job it was leased for."""


class ClockSkewError(ReportRejectedError):
    """A report's start time lies outside [lease handed out - skew, now + skew]."""


# --- the probe protocol (agent side) ---------------------------------------------------------


class RetryLaterError(BackendUnavailableError):
    """The API answered 408, 429 or 5xx: try again, not before ``retry_after_s`` if given."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class RequestRefusedError(CloudperfError):
    """The API refused a request for good (a 4xx other than 408/429): resending it as it is
    will not help. ``code`` and ``detail`` are the API's error body."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"{status} {code}: {detail}")


class AuthError(CloudperfError):
    """A token or password was not accepted."""


class RateLimitedError(CloudperfError):
    """Too many attempts (e.g. failed logins); ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class WrongPasswordError(AuthError):
    """A signed-in user's current password, asked for again to change it, was wrong."""


class SketchDecodeError(CloudperfError):
    """Bytes given to ``LatencySketch.from_bytes`` are not a valid serialized sketch."""


class FpingParseWarning(UserWarning):
    """A line of fping output was not understood and skipped (lenient mode)."""
