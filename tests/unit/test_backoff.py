"""The one full-jitter backoff rule (adapters' retries and the probe agent share it)."""

from __future__ import annotations

import pytest

from cloudperf_core.backoff import Backoff, backoff_bound_s, jittered_s
from cloudperf_core.errors import InvalidSpecError


def test_bounds_double_from_the_base_up_to_the_cap() -> None:
    bounds = [backoff_bound_s(n, base_s=0.5, cap_s=5.0) for n in range(1, 7)]
    assert bounds == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_bound_s(10_000, base_s=0.5, cap_s=5.0) == 5.0  # no overflow far out


def test_waits_are_drawn_across_the_whole_bound() -> None:
    waits = [jittered_s(3, base_s=1.0, cap_s=60.0) for _ in range(2000)]
    assert all(0.0 <= w <= 4.0 for w in waits)
    assert min(waits) < 0.5 and max(waits) > 3.5  # full jitter, not "bound +- a little"


def test_a_backoff_grows_with_failures_honours_retry_after_and_resets() -> None:
    wait = Backoff(base_s=1.0, cap_s=8.0)
    firsts = [Backoff(base_s=1.0, cap_s=8.0).next_s() for _ in range(200)]
    assert max(firsts) <= 1.0
    for _ in range(10):
        assert wait.next_s() <= 8.0
    assert wait.failures == 10
    assert wait.next_s(at_least_s=6.0) >= 6.0
    assert wait.next_s(at_least_s=120.0) == 8.0  # a server cannot park us beyond our cap
    wait.reset()
    assert wait.failures == 0 and wait.next_s() <= 1.0
    with pytest.raises(InvalidSpecError):
        Backoff(base_s=0.0, cap_s=1.0)
