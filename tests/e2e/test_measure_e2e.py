"""``cloudperf measure`` and ``cloudperf report`` against namespace hosts with known impairment.

Statistical bounds (stated once, used below):
- loss: the number of lost probes is Binomial(n, p); we accept |lost - n p| <= 4 sigma with
  sigma = sqrt(n p (1 - p)) (two-sided false-alarm rate ~6e-5 per check).
- delay d +- j (uniform): RTT = d + U(-j, j) + path overhead. The q-quantile of n samples has
  standard error sqrt(q (1 - q) / n) * 2j (density 1/(2j)); we accept
  [Q(q) - 4 SE - 1 %, Q(q) + 4 SE + 1 % + OVERHEAD_MS], where 1 % is the stated sketch error
  and OVERHEAD_MS covers the kernel, the Python responder and fping's 3-digit printing.
  The responder never answers early, so min >= d - j exactly. A single RTT (max) can be hit by
  a scheduling hiccup of the machine, so max only gets the loose OUTLIER_SLACK_MS; it still
  catches unit errors (us vs ms) and replies held back for a whole period.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.testhosts import TestNetwork

Measure = Callable[..., dict[str, dict[str, Any]]]
OVERHEAD_MS = 2.0
OUTLIER_SLACK_MS = 25.0
SIGMAS = 4.0


def assert_loss_plausible(row: dict[str, Any], configured_loss: float) -> None:
    sent, received = row["sent"], row["received"]
    lost = sent - received
    sigma = math.sqrt(sent * configured_loss * (1 - configured_loss))
    assert abs(lost - sent * configured_loss) <= SIGMAS * sigma, (
        f"{lost}/{sent} lost, configured {configured_loss:.0%} (+-{SIGMAS * sigma:.1f} probes)"
    )
    assert row["loss_ratio"] == pytest.approx(lost / sent, abs=1e-6)
    assert len(row["rtts_ms"]) == sent
    assert sum(v is None for v in row["rtts_ms"]) == lost


def uniform_quantile_bounds(q: float, lo_ms: float, hi_ms: float, n: int) -> tuple[float, float]:
    width = hi_ms - lo_ms
    expected = lo_ms + q * width
    se = math.sqrt(q * (1 - q) / n) * width
    return expected * 0.99 - SIGMAS * se, expected * 1.01 + SIGMAS * se + OVERHEAD_MS


def test_loss_ratio_matches_configured_loss(testnet: TestNetwork, measure: Measure) -> None:
    host = testnet.add_host(loss=0.25)
    row = measure(host, count=200, period_ms=10, timeout_ms=500)[host]
    assert row["sent"] == 200
    assert row["duplicates"] == 0
    assert_loss_plausible(row, 0.25)
    assert row["errors"] == []


def test_delay_and_jitter_show_in_percentiles(testnet: TestNetwork, measure: Measure) -> None:
    delay_ms, jitter_ms, n = 30.0, 5.0, 100
    host = testnet.add_host(delay_ms=delay_ms, jitter_ms=jitter_ms)
    row = measure(host, count=n, period_ms=10, timeout_ms=500)[host]
    assert (row["sent"], row["received"], row["loss_ratio"]) == (n, n, 0.0)
    lo_ms, hi_ms = delay_ms - jitter_ms, delay_ms + jitter_ms
    assert row["min_ms"] >= lo_ms
    assert row["max_ms"] <= hi_ms + OUTLIER_SLACK_MS
    for q in (0.50, 0.90, 0.95):
        low, high = uniform_quantile_bounds(q, lo_ms, hi_ms, n)
        measured = row[f"p{round(q * 100)}_ms"]
        assert low <= measured <= high, f"p{q * 100:.0f}={measured} not in [{low:.2f}, {high:.2f}]"
    assert row["p50_ms"] <= row["p70_ms"] <= row["p90_ms"] <= row["p95_ms"] <= row["p99_ms"]
    # Uniform +-5 ms: stddev 10/sqrt(12) = 2.89 ms; mean |difference| of consecutive
    # independent samples is 10/3 = 3.33 ms. Upper bounds leave room for one outlier.
    assert 2.0 <= row["stddev_ms"] <= 6.0
    assert 2.3 <= row["jitter_ms"] <= 5.5
    assert all(lo_ms <= v <= hi_ms + OUTLIER_SLACK_MS for v in row["rtts_ms"])


def test_duplicates_are_counted_but_never_as_received(
    testnet: TestNetwork, measure: Measure
) -> None:
    n, dup = 50, 0.3
    host = testnet.add_host(dup=dup)
    row = measure(host, count=n, period_ms=10, timeout_ms=500)[host]
    assert row["sent"] == n
    assert row["received"] == n, "a duplicate reply must not replace or add a received probe"
    assert row["loss_ratio"] == 0.0
    sigma = math.sqrt(n * dup * (1 - dup))
    assert row["duplicates"] > 0
    assert abs(row["duplicates"] - n * dup) <= SIGMAS * sigma, row["duplicates"]
    assert None not in row["rtts_ms"] and len(row["rtts_ms"]) == n


def test_silent_host_is_all_loss_next_to_answering_one(
    testnet: TestNetwork, measure: Measure
) -> None:
    silent, alive = testnet.add_host(silent=True), testnet.add_host()
    rows = measure(silent, alive, count=5, period_ms=20, timeout_ms=200, expect_rc=None)
    dead = rows[silent]
    assert (dead["sent"], dead["received"], dead["loss_ratio"]) == (5, 0, 1.0)
    assert dead["rtts_ms"] == [None] * 5
    assert dead["min_ms"] is None and dead["p50_ms"] is None
    ok = rows[alive]
    assert (ok["sent"], ok["received"], ok["loss_ratio"]) == (5, 5, 0.0)


def test_reply_later_than_period_within_timeout_is_received(
    testnet: TestNetwork, measure: Measure
) -> None:
    host = testnet.add_host(delay_ms=150)
    row = measure(host, count=10, period_ms=50, timeout_ms=1000)[host]
    assert (row["sent"], row["received"], row["loss_ratio"]) == (10, 10, 0.0)
    assert row["min_ms"] >= 150.0
    assert row["max_ms"] <= 150.0 + OUTLIER_SLACK_MS


def test_ipv6_host_loss_and_delay(testnet: TestNetwork, measure: Measure) -> None:
    if not testnet.ipv6:
        pytest.skip("IPv6 could not be enabled in the test namespace")
    host = testnet.add_host(family=6, delay_ms=10, jitter_ms=2, loss=0.25)
    plain = testnet.add_host(family=6)
    rows = measure(
        host, plain, count=200, period_ms=10, timeout_ms=500, args=["--interval-ms", "2"]
    )
    assert rows[host]["sent"] == 200
    assert_loss_plausible(rows[host], 0.25)
    assert rows[host]["min_ms"] >= 8.0
    low, high = uniform_quantile_bounds(0.5, 8.0, 12.0, rows[host]["received"])
    assert low <= rows[host]["p50_ms"] <= high
    assert (rows[plain]["received"], rows[plain]["loss_ratio"]) == (200, 0.0)


def test_report_merges_two_measure_runs(
    testnet: TestNetwork, measure: Measure, cloudperf: Callable[..., Any], store_url: str
) -> None:
    host = testnet.add_host(delay_ms=5, jitter_ms=1, dup=0.2)
    first = measure(host, count=10, period_ms=10, timeout_ms=500)[host]
    second = measure(host, count=15, period_ms=10, timeout_ms=500)[host]
    rows = cloudperf("report", "--store", store_url, "--json").json()
    (merged,) = [r for r in rows if r["target"] == host]
    assert merged["sent"] == 25
    assert merged["received"] == first["received"] + second["received"] == 25
    assert merged["duplicates"] == first["duplicates"] + second["duplicates"]
    assert merged["loss_ratio"] == 0.0
    assert merged["min_ms"] == pytest.approx(min(first["min_ms"], second["min_ms"]), abs=1e-3)
    assert merged["max_ms"] == pytest.approx(max(first["max_ms"], second["max_ms"]), abs=1e-3)
    assert merged["min_ms"] <= merged["p50_ms"] <= merged["p95_ms"] <= merged["max_ms"] * 1.01
    assert "rtts_ms" not in merged
