"""Full-jitter exponential backoff: the one wait rule of every retry in cloudperf.

The wait after failed attempt ``n`` (1-based) is drawn uniformly from
``[0, min(cap_s, base_s * 2 ** (n - 1))]`` ("full jitter"), so many clients that failed
together do not retry together. The adapters' retry policy (``adapters._retry``) and the probe
agent both take their waits from here.

>>> backoff_bound_s(1, base_s=0.5, cap_s=4.0), backoff_bound_s(5, base_s=0.5, cap_s=4.0)
(0.5, 4.0)
>>> wait = Backoff(base_s=1.0, cap_s=60.0)
>>> 0.0 <= wait.next_s() <= 1.0 and 0.0 <= wait.next_s() <= 2.0
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cloudperf_core.errors import InvalidSpecError

__all__ = ["Backoff", "backoff_bound_s", "jittered_s"]

_MAX_EXPONENT = 62  # 2**62 already passes any cap; keeps the float finite


def backoff_bound_s(attempt: int, *, base_s: float, cap_s: float) -> float:
    """The longest wait after failed attempt number ``attempt`` (1-based)."""
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    return min(cap_s, base_s * 2.0**exponent)


def jittered_s(attempt: int, *, base_s: float, cap_s: float) -> float:
    """A wait drawn uniformly from ``[0, backoff_bound_s(attempt)]``."""
    return random.uniform(0.0, backoff_bound_s(attempt, base_s=base_s, cap_s=cap_s))


@dataclass
class Backoff:
    """Consecutive failures of one loop and the wait each earns; :meth:`reset` on success."""

    base_s: float
    cap_s: float
    failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.cap_s >= self.base_s):
            raise InvalidSpecError("backoff needs base_s > 0 and cap_s >= base_s")

    def next_s(self, at_least_s: float = 0.0) -> float:
        """Count one more failure and return the wait before the next try: jittered, but
        never less than ``at_least_s`` (a server's Retry-After) nor more than the cap."""
        self.failures += 1
        wait = jittered_s(self.failures, base_s=self.base_s, cap_s=self.cap_s)
        return min(self.cap_s, max(wait, at_least_s))

    def reset(self) -> None:
        self.failures = 0
