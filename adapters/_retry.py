"""One bounded retry policy for every adapter (Aurora, Redis, SQS): capped attempts, each
attempt under a deadline, full-jitter exponential backoff between them, and a total deadline.

The waits follow the core's full-jitter rule (:mod:`cloudperf_core.backoff`, which the probe
agent uses too). An attempt maps its driver errors to the cloudperf tree itself;
:func:`retrying` retries the ones ``retry_if`` accepts (by default
:class:`BackendUnavailableError`, the transient kind) and re-raises anything else at once.
An attempt that overruns its deadline is cancelled and counts as a
:class:`BackendUnavailableError`. So the time to an error is at most
:attr:`RetryPolicy.worst_case_s`::

    min(deadline_s, max_attempts * attempt_timeout_s + sum of the backoff caps between them)

>>> policy = RetryPolicy(max_attempts=3, attempt_timeout_s=2.0, backoff_s=0.1, backoff_cap_s=1.0)
>>> policy.worst_case_s  # 3 * 2.0 + 0.1 + 0.2
6.3
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from cloudperf_core.backoff import backoff_bound_s, jittered_s
from cloudperf_core.errors import BackendUnavailableError, CloudperfError, InvalidSpecError

__all__ = ["RetryPolicy", "is_transient", "retrying"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to try one operation."""

    max_attempts: int
    attempt_timeout_s: float
    backoff_s: float = 0.05  # the first retry waits up to this long
    backoff_cap_s: float = 1.0  # no wait is longer than this
    deadline_s: float | None = None  # the whole operation, backoff included

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not self.attempt_timeout_s > 0:
            raise InvalidSpecError("a retry policy needs max_attempts >= 1, attempt_timeout_s > 0")

    def backoff_bound_s(self, attempt: int) -> float:
        """The longest wait after failed attempt number ``attempt`` (1-based)."""
        return backoff_bound_s(attempt, base_s=self.backoff_s, cap_s=self.backoff_cap_s)

    @property
    def worst_case_s(self) -> float:
        """The longest time :func:`retrying` can take before it raises."""
        waits = sum(self.backoff_bound_s(a) for a in range(1, self.max_attempts))
        total = self.max_attempts * self.attempt_timeout_s + waits
        return total if self.deadline_s is None else min(total, self.deadline_s)


def is_transient(error: CloudperfError) -> bool:
    return isinstance(error, BackendUnavailableError)


async def retrying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retry_if: Callable[[CloudperfError], bool] = is_transient,
) -> T:
    """Await ``attempt()`` until it succeeds, fails for good, or the policy runs out.

    ``what`` names the operation and where it goes (no password) for messages and logs.
    """
    started = anyio.current_time()
    deadline = math.inf if policy.deadline_s is None else started + policy.deadline_s
    number = 0
    while True:
        number += 1
        bound_s = min(policy.attempt_timeout_s, max(0.0, deadline - anyio.current_time()))
        try:
            with anyio.fail_after(bound_s):
                return await attempt()
        except TimeoutError as exc:
            error: CloudperfError = BackendUnavailableError(
                f"{what}: no answer within {bound_s:.3g} s"
            )
            error.__cause__ = exc
        except CloudperfError as exc:
            error = exc
        if not retry_if(error) or number >= policy.max_attempts:
            break
        delay_s = jittered_s(number, base_s=policy.backoff_s, cap_s=policy.backoff_cap_s)
        if anyio.current_time() + delay_s >= deadline:
            break
        log.warning("%s: %s; retry %d in %.2f s", what, error, number, delay_s)
        await anyio.sleep(delay_s)
    if number > 1 and isinstance(error, BackendUnavailableError):
        raise BackendUnavailableError(f"{error} (gave up after {number} attempts)") from error
    raise error
