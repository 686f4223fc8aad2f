"""HttpProbeApi: what reaches the wire, and how every kind of answer becomes an error."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from adapters.http_probe_api import HttpProbeApi, check_api_url
from cloudperf_core.backends import open_probe_api
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    RequestRefusedError,
    RetryLaterError,
)
from cloudperf_core.protocol import Heartbeat

TOKEN = "cpp_p1_" + "A" * 43


def api_answering(
    *responses: httpx.Response | Exception,
) -> tuple[HttpProbeApi, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return HttpProbeApi("https://api.test", TOKEN, transport=httpx.MockTransport(handler)), seen


async def test_requests_carry_the_token_and_json() -> None:
    api, seen = api_answering(
        httpx.Response(200, json={"jobs": [], "paused": True, "poll_after_s": 7.5}),
        httpx.Response(204),
    )
    polled = await api.poll(3)
    await api.heartbeat(Heartbeat(fping_can_send=True, agent_version="1"))
    assert (polled.jobs, polled.paused, polled.poll_after_s) == ([], True, 7.5)
    assert [r.url.path for r in seen] == ["/v1/probe/poll", "/v1/probe/heartbeat"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert seen[0].headers["content-type"] == "application/json"
    assert msgspec.json.decode(seen[0].content) == {"max_jobs": 3}
    await api.close()


@pytest.mark.parametrize(
    ("answer", "error", "retry_after_s"),
    [
        (
            httpx.Response(
                503, headers={"Retry-After": "7"}, json={"error": "unavailable", "detail": "x"}
            ),
            RetryLaterError,
            7.0,
        ),
        (
            httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            RetryLaterError,
            None,
        ),
        (httpx.Response(408), RetryLaterError, None),
        (httpx.Response(502, text="<html>bad gateway</html>"), RetryLaterError, None),
        (httpx.ConnectError("refused"), BackendUnavailableError, None),
        (httpx.ReadTimeout("slow"), BackendUnavailableError, None),
        (httpx.Response(302, headers={"Location": "https://elsewhere/"}), BackendError, None),
        (httpx.Response(200, text="<html>captive portal</html>"), BackendError, None),
    ],
)
async def test_answers_that_mean_try_later_or_misconfigured(
    answer: httpx.Response | Exception, error: type[Exception], retry_after_s: float | None
) -> None:
    api, _ = api_answering(answer)
    with pytest.raises(error) as info:
        await api.poll(1)
    assert not isinstance(info.value, RequestRefusedError)
    if isinstance(info.value, RetryLaterError):
        assert info.value.retry_after_s == retry_after_s


async def test_a_refusal_carries_the_apis_code_and_detail() -> None:
    api, _ = api_answering(
        httpx.Response(404, json={"error": "unknown_lease", "detail": "no lease 'x'"}),
        httpx.Response(400, text="plain text"),
    )
    with pytest.raises(RequestRefusedError) as info:
        await api.poll(1)
    assert (info.value.status, info.value.code, info.value.detail) == (
        404,
        "unknown_lease",
        "no lease 'x'",
    )
    with pytest.raises(RequestRefusedError) as info:
        await api.poll(1)
    assert (info.value.code, info.value.detail) == ("http_error", "plain text")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.net",
        "ftp://api.example.net",
        "https://",
        "https://u:p@api.example.net",
        "https://api.example.net/?x=1",
    ],
)
def test_urls_the_token_must_not_go_to(url: str) -> None:
    with pytest.raises(BackendConfigError):
        check_api_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.net/",
        "https://api.example.net/prefix",
        "http://127.0.0.1:8080",
        "http://[::1]:80",
        "http://localhost",
    ],
)
def test_urls_that_are_fine(url: str) -> None:
    assert check_api_url(url) == url.rstrip("/")


async def test_opened_by_url_through_the_backend_registry() -> None:
    api = await open_probe_api("https://api.example.net", TOKEN, timeout_s=5)
    assert isinstance(api, HttpProbeApi)
    await api.close()
    with pytest.raises(BackendConfigError, match="unencrypted"):
        await open_probe_api("http://api.example.net", TOKEN)
    with pytest.raises(BackendConfigError):
        HttpProbeApi("https://api.example.net", "cpp_p1_ spaced")
