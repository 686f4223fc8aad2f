"""``cloudperf cost``: the usage formulas on hand-computed cases, and the README's table."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cloudperf_core.cli.cost import (
    HOURS_PER_MONTH,
    SQS_IDLE_RECEIVES_PER_MONTH,
    Assumptions,
    Estimate,
    Scale,
    UnitPrices,
    estimate,
)
from cloudperf_core.cli.main import main

README = Path(__file__).resolve().parents[2] / "infra" / "cdk" / "README.md"
PRICES = UnitPrices()


def _line(est: Estimate, service_prefix: str) -> float:
    return next(line.usd for line in est.lines if line.service.startswith(service_prefix))


def test_one_probe_one_job_a_minute_by_hand() -> None:
    est = estimate(Scale(probes=1, targets=500, interval_s=60))
    u = est.usage
    assert u["jobs"] == 43_800  # 2,628,000 s / 60 s, one job of 500 targets each
    assert u["measurements"] == 500 * 43_800
    assert u["api_requests"] == 3 * 43_800  # poll with a job, report, empty poll
    # One report a minute never fills a batch within the 5 s window: one invocation each.
    assert u["worker_invocations"] == pytest.approx(43_800)
    assert u["sqs_requests"] == pytest.approx(43_800 + 2 * 43_800 + SQS_IDLE_RECEIVES_PER_MONTH)
    assert u["aurora_acu_hours"] == 2 * 0.5 * HOURS_PER_MONTH  # writer + reader at the floor
    assert _line(est, "API Gateway") == pytest.approx(
        3 * 43_800 / 1e6 * PRICES.http_api_per_million
    )
    assert _line(est, "NAT") == pytest.approx(
        HOURS_PER_MONTH * (PRICES.nat_hour + PRICES.public_ipv4_hour)
        + 2 * 43_800 * 500 * 120 / 1e9 * PRICES.nat_gb
    )
    assert est.total_usd == pytest.approx(sum(line.usd for line in est.lines))
    assert est.notes == []


def test_usage_follows_the_measurement_frequency() -> None:
    fast = estimate(Scale(10, 2000, 30))
    slow = estimate(Scale(10, 2000, 60))
    for key in ("jobs", "measurements", "api_requests", "aurora_write_ios"):
        assert fast.usage[key] == pytest.approx(2 * slow.usage[key]), key
    assert fast.total_usd > slow.total_usd


def test_worker_batches_fill_when_reports_come_fast() -> None:
    est = estimate(Scale(probes=100, targets=500, interval_s=1))  # 100 reports/s
    assert est.usage["worker_invocations"] == pytest.approx(est.usage["jobs"] / 10)


def test_database_capacity_follows_the_ingest_rate() -> None:
    est = estimate(Scale(probes=10, targets=10_000, interval_s=10))  # 10,000 rows/s
    assert est.usage["aurora_acu_hours"] == pytest.approx(10 * 2 * HOURS_PER_MONTH)
    assert any("dbMaxAcu=4" in note for note in est.notes)
    writer_only = estimate(Scale(10, 10_000, 10), replace(Assumptions(), db_reader=False))
    assert writer_only.usage["aurora_acu_hours"] == pytest.approx(10 * HOURS_PER_MONTH)


def test_large_reports_cost_more_sqs_requests() -> None:
    a = replace(Assumptions(), targets_per_job=1000, count=100)  # 1000 x 840 B = 840 kB
    est = estimate(Scale(probes=1, targets=1000, interval_s=60), a)
    jobs = est.usage["jobs"]
    sends = est.usage["sqs_requests"] - SQS_IDLE_RECEIVES_PER_MONTH
    messages = 4 * jobs  # split at 256 KiB
    assert est.usage["worker_invocations"] == pytest.approx(messages)
    assert sends == pytest.approx(13 * jobs + 2 * messages)  # 13 chunks of 64 KiB each


def test_engine_and_front_door_choices() -> None:
    valkey = estimate(Scale(1, 100, 60))
    redis = estimate(Scale(1, 100, 60), replace(Assumptions(), cache_engine="redis"))
    assert valkey.usage["cache_gb"] == 0.1 and redis.usage["cache_gb"] == 1.0
    assert _line(redis, "ElastiCache") > 10 * _line(valkey, "ElastiCache")
    alb = estimate(Scale(1, 100, 60), replace(Assumptions(), front_door="alb"))
    assert _line(alb, "Application Load Balancer") >= HOURS_PER_MONTH * (
        PRICES.alb_hour + 2 * PRICES.public_ipv4_hour
    )
    no_nat = estimate(Scale(1, 100, 60), replace(Assumptions(), nat_gateways=0))
    assert not [line for line in no_nat.lines if line.service == "NAT gateway"]


def test_cli_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--probes", "10", "--targets", "1000", "--interval-s", "60"]) == 0
    text = capsys.readouterr().out
    total = estimate(Scale(10, 1000, 60)).total_usd
    assert re.search(rf"total \(main stack\)\s+{total:,.2f}$", text, re.M)
    assert "us-east-1 on-demand prices of" in text
    argv = ["cost", "--probes", "3", "--targets", "10", "--interval-s", "5", "--json"]
    assert main([*argv, "--front-door", "alb", "--no-db-reader"]) == 0
    body = json.loads(capsys.readouterr().out)
    expected = estimate(
        Scale(3, 10, 5), replace(Assumptions(), front_door="alb", db_reader=False)
    ).total_usd
    assert body["total_usd"] == pytest.approx(expected)
    assert body["prices"]["region"] == "us-east-1"


def test_cli_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cost", "--probes", "0", "--targets", "10", "--interval-s", "60"])
    assert exited.value.code == 2
    assert "must be > 0" in capsys.readouterr().err


def test_readme_cost_table_matches_the_model() -> None:
    times = "\u00d7"  # the multiplication sign, as in "1 (times) 100 (times) every 300 s"
    money = r"\$([\d,]+\.\d\d)"
    row = rf"^\| ([\d,]+) {times} ([\d,]+) {times} every ([\d.]+) s \|.*\| {money} \| {money} \|$"
    rows = re.findall(row, README.read_text(), re.M)
    assert len(rows) >= 4, "the README's cost table was not found"
    for probes, targets, interval, http_api_total, alb_total in rows:
        scale = Scale(int(probes.replace(",", "")), int(targets.replace(",", "")), float(interval))
        alb = replace(Assumptions(), front_door="alb")
        assert f"{estimate(scale).total_usd:,.2f}" == http_api_total, scale
        assert f"{estimate(scale, alb).total_usd:,.2f}" == alb_total, scale
