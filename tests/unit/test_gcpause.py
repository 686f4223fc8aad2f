"""Library calls that pause the cyclic GC always give it back: on errors and across threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from cloudperf_core.errors import FpingParseError
from cloudperf_core.fping.parser import parse_fping_output
from cloudperf_core.gcpause import paused_gc
from cloudperf_core.models import TargetResult
from cloudperf_core.stats import compute_stats_many


@pytest.fixture(autouse=True)
def _gc_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_a_strict_parse_that_raises_leaves_the_gc_enabled() -> None:
    with pytest.raises(FpingParseError):
        parse_fping_output("10.0.0.1 : 0.1\nnot fping\n", strict=True)
    assert gc.isenabled()


def test_batch_stats_that_raise_leave_the_gc_enabled() -> None:
    bad = TargetResult(target="a", rtts_us=["x"])  # type: ignore[list-item]
    with pytest.raises((TypeError, ValueError)):
        compute_stats_many([bad] * 20)
    assert gc.isenabled()


def test_a_disabled_gc_stays_disabled() -> None:
    gc.disable()
    parse_fping_output("10.0.0.1 : 0.1\n")
    compute_stats_many([TargetResult(target="a", rtts_us=[1])])
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_keep_it_off_until_the_last_ends() -> None:
    inside = threading.Event()
    release = threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=other)
    with paused_gc():
        thread.start()
        assert inside.wait(5)
    # The first pause ended while the other thread's is still running: the GC stays off
    # (turning it back on here would walk the other call's objects again and again).
    assert not gc.isenabled()
    release.set()
    thread.join(5)
    assert seen == [False]
    assert gc.isenabled()
