"""``ProbeApi`` over HTTP (httpx): the probe agent's client of the cloudperf API.

The token travels in the ``Authorization`` header, so plain ``http://`` is refused except to
a loopback address (a local ``cloudperf serve``); redirects are not followed (a token must
not be sent on to wherever a redirect points). How answers map to errors:

=======================================  ====================================================
network error, timeout                   ``BackendUnavailableError`` (try again later)
408, 429, 5xx                            ``RetryLaterError`` (+ the server's Retry-After)
other 4xx                                ``RequestRefusedError`` (status, code, detail)
3xx, or a 2xx body that is not the type  ``BackendError`` (a wrong URL, a proxy in the way)
=======================================  ====================================================

Tests hand in ``transport=httpx.ASGITransport(app)`` to talk to the app in-process.

>>> api = HttpProbeApi("https://cloudperf.example.net", token)        # doctest: +SKIP
>>> (await api.poll(2)).jobs                                           # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import math
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec

from cloudperf_core.backends import SharedResources
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    RequestRefusedError,
    RetryLaterError,
)
from cloudperf_core.protocol import (
    Heartbeat,
    PollRequest,
    PollResponse,
    ReportSubmission,
    SubmitResponse,
)

__all__ = ["HttpProbeApi", "open_backend"]

T = TypeVar("T")


class _ErrorBody(msgspec.Struct):
    """The API's error body (``cloudperf_core.api.errors.ErrorBody``; the API package is
    not imported here: it pulls in the server framework)."""

    error: str
    detail: str


_encoder = msgspec.json.Encoder()
_error_decoder = msgspec.json.Decoder(_ErrorBody)
_MAX_RETRY_AFTER_S = 3600.0
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def check_api_url(url: str) -> str:
    """``url`` without a trailing slash; BackendConfigError unless https, or http to a
    loopback address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise BackendConfigError(f"not an API URL: {url!r} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise BackendConfigError(f"the API URL must be https://HOST[/PATH], not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BackendConfigError("the API URL takes no query, fragment or credentials")
    if parts.scheme == "http" and not _is_loopback(host):
        raise BackendConfigError(
            f"refusing plain http:// to {host}: the probe token would travel unencrypted; "
            "use https:// (http:// is only for a server on this machine)"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None  # an HTTP date, or nothing: our own backoff decides
    return min(value, _MAX_RETRY_AFTER_S) if math.isfinite(value) and value >= 0 else None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = _error_decoder.decode(response.content)
    except msgspec.MsgspecError:
        text = response.text.strip().replace("\n", " ")[:200]
        return "http_error", text or response.reason_phrase
    return body.error, body.detail


class HttpProbeApi:
    """The API as one probe (its token) calls it."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        user_agent: str = "cloudperf-agent",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if transport is None:
            base_url = check_api_url(base_url)
        if not token or any(c.isspace() for c in token):
            raise BackendConfigError("the probe token is empty or contains whitespace")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=transport,
        )

    async def poll(self, max_jobs: int) -> PollResponse:
        response = await self._post("/v1/probe/poll", PollRequest(max_jobs=max_jobs))
        return self._decode(response, PollResponse)

    async def submit(self, submission: ReportSubmission) -> SubmitResponse:
        response = await self._post("/v1/probe/reports", submission)
        return self._decode(response, SubmitResponse)

    async def heartbeat(self, beat: Heartbeat) -> None:
        await self._post("/v1/probe/heartbeat", beat)

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: msgspec.Struct) -> httpx.Response:
        where = f"{self._base_url}{path}"
        try:
            response = await self._client.post(
                path,
                content=_encoder.encode(body),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise BackendUnavailableError(
                f"{where}: no answer within {self._timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise BackendUnavailableError(f"cannot reach {where}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"{where}: {exc}") from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            code, detail = _error_of(response)
            raise RetryLaterError(f"{where}: {status} {code}: {detail}", _retry_after_s(response))
        if status >= 400:
            code, detail = _error_of(response)
            raise RequestRefusedError(status, code, detail)
        if status >= 300:
            location = response.headers.get("location", "?")
            raise BackendError(f"{where} redirects to {location}: give the agent that URL")
        return response

    def _decode(self, response: httpx.Response, type_: type[T]) -> T:
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.MsgspecError as exc:
            raise BackendError(
                f"{response.request.url} answered {response.status_code} with a body that is "
                f"not a {type_.__name__} (a proxy in the way?): {exc}"
            ) from exc


async def open_backend(
    url: str,
    port: str,
    *,
    shared: SharedResources | None = None,
    token: str | None = None,
    timeout_s: float = 30.0,
    user_agent: str = "cloudperf-agent",
) -> HttpProbeApi:
    """``https://HOST[/PATH]`` (or ``http://`` to loopback) -> the probe agent's ProbeApi
    (port ``probe_api``, with ``token``). ``shared`` is accepted for the registry's sake."""
    if port != "probe_api":
        raise BackendConfigError(f"http(s):// URLs serve the probe API only, not {port!r}")
    if token is None:
        raise BackendConfigError("the probe API needs a probe token")
    return HttpProbeApi(url, token, timeout_s=timeout_s, user_agent=user_agent)


if TYPE_CHECKING:  # mypy proves the client satisfies its port; nothing runs here
    from cloudperf_core.ports import ProbeApi

    def _conforms(api: HttpProbeApi) -> ProbeApi:
        return api
