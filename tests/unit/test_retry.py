"""The one retry policy every adapter uses: attempts, per-attempt deadline, jittered backoff
bounded by its caps, a total deadline, and which errors are retried at all."""

from __future__ import annotations

import math

import anyio
import pytest

from adapters._retry import RetryPolicy, retrying
from cloudperf_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    CloudperfError,
    InvalidSpecError,
)

FAST = RetryPolicy(max_attempts=3, attempt_timeout_s=5.0, backoff_s=0.001, backoff_cap_s=0.002)


class Flaky:
    """Fails with ``errors`` in turn, then returns ``result``; counts its calls."""

    def __init__(self, *errors: CloudperfError, result: int = 7) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    async def __call__(self) -> int:
        self.calls += 1
        await anyio.lowlevel.checkpoint()
        if self.errors:
            raise self.errors.pop(0)
        return self.result


async def test_transient_errors_are_retried_until_it_works() -> None:
    op = Flaky(BackendUnavailableError("blip"), BackendUnavailableError("blip"))
    assert await retrying("op", op, FAST) == 7
    assert op.calls == 3


@pytest.mark.parametrize("error", [BackendError("broken"), BackendConfigError("bad password")])
async def test_errors_a_retry_cannot_fix_are_raised_at_once(error: CloudperfError) -> None:
    op = Flaky(error)
    with pytest.raises(type(error)) as info:
        await retrying("op", op, FAST)
    assert info.value is error
    assert op.calls == 1


async def test_giving_up_says_how_often_it_tried_and_keeps_the_cause() -> None:
    last = BackendUnavailableError("db down (3)")
    op = Flaky(BackendUnavailableError("1"), BackendUnavailableError("2"), last)
    with pytest.raises(
        BackendUnavailableError, match=r"db down \(3\) \(gave up after 3 attempts\)"
    ) as info:
        await retrying("op", op, FAST)
    assert info.value.__cause__ is last
    assert op.calls == 3


async def test_an_attempt_that_hangs_is_cut_at_its_deadline_and_counts_as_transient() -> None:
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(math.inf)

    policy = RetryPolicy(max_attempts=2, attempt_timeout_s=0.05, backoff_s=0.0)
    with anyio.fail_after(30), pytest.raises(BackendUnavailableError, match="no answer within"):
        await retrying("silent server", hangs, policy)
    assert calls == 2


async def test_the_total_deadline_stops_retrying_before_the_attempts_run_out() -> None:
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(math.inf)

    policy = RetryPolicy(max_attempts=1000, attempt_timeout_s=0.05, backoff_s=0.0, deadline_s=0.12)
    with anyio.fail_after(30), pytest.raises(BackendUnavailableError):
        await retrying("op", hangs, policy)
    assert 2 <= calls <= 4  # ~0.12 s of 0.05 s attempts, never the 1000 the count allows


async def test_retry_if_can_refuse_a_retry_of_a_transient_error() -> None:
    op = Flaky(BackendUnavailableError("may have counted"))
    with pytest.raises(BackendUnavailableError, match=r"may have counted$"):
        await retrying("INCR", op, FAST, retry_if=lambda e: False)
    assert op.calls == 1


async def test_backoff_waits_are_full_jitter_under_the_growing_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(anyio, "sleep", record)  # the module _retry sleeps through
    policy = RetryPolicy(max_attempts=6, attempt_timeout_s=5.0, backoff_s=0.1, backoff_cap_s=0.3)
    op = Flaky(*[BackendUnavailableError("x")] * 5)
    assert await retrying("op", op, policy) == 7
    caps = [0.1, 0.2, 0.3, 0.3, 0.3]
    assert len(waits) == 5
    assert all(0 <= w <= cap for w, cap in zip(waits, caps, strict=True))


def test_worst_case_is_attempts_times_the_attempt_bound_plus_the_waits() -> None:
    policy = RetryPolicy(max_attempts=4, attempt_timeout_s=2.0, backoff_s=0.5, backoff_cap_s=1.0)
    assert policy.worst_case_s == pytest.approx(4 * 2.0 + 0.5 + 1.0 + 1.0)
    capped = RetryPolicy(max_attempts=4, attempt_timeout_s=2.0, deadline_s=3.0)
    assert capped.worst_case_s == 3.0


@pytest.mark.parametrize(("attempts", "timeout_s"), [(0, 1.0), (1, 0.0), (1, math.nan)])
def test_a_policy_that_cannot_run_is_refused(attempts: int, timeout_s: float) -> None:
    with pytest.raises(InvalidSpecError):
        RetryPolicy(max_attempts=attempts, attempt_timeout_s=timeout_s)
