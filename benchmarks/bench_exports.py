"""Exports: ``GET /metrics`` scrape time at the series cap, and ``cloudperf export`` rows per
second against ``cloudperf report --json`` on the same data, each baseline in the same run.

Synthetic data (documentation ranges only; nothing is probed), ingested into a SQLite store
through the real use-case: P probes x L destination locations (one address each), one report
per probe a minute for M minutes, 10 probes per target. /metrics groups probe x location by
default, so there are P x L groups, more than the cap (1000; 300 with --quick).

- Scrape: ``GET /metrics`` in-process (httpx over ASGI, a viewer session), best of R; baseline
  ``GET /v1/latency?source_by=probe&dest_by=location&limit=1000`` over the same windows (the
  same merged groups as JSON, first page).
- Export: ``cloudperf export --format F`` (every window row, pair grouping) and
  ``cloudperf report --json --group-by pair`` (one merged row per pair), both as the command a
  user runs (subprocess, output to /dev/null), best of R; rows per second of each.

    python -m benchmarks.bench_exports [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

from cloudperf_core import service
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import mint_session_token, token_hash
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import AddressRange, Location, Probe, User
from cloudperf_core.clock import SystemClock
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results"
COUNT = 10


def _target(i: int) -> str:
    return f"198.51.100.{i}" if i < 256 else f"203.0.113.{i - 256}"


def _reports(probes: int, locations: int, minutes: int, now_ms: int) -> list[MeasurementReport]:
    out = []
    targets = tuple(_target(i) for i in range(locations))
    for p in range(probes):
        for m in range(minutes):
            results = [
                TargetResult(
                    target=t, sent=COUNT, received=COUNT - (i + m) % 3,
                    rtts_us=[1000 + 97 * i + 13 * k + p for k in range(COUNT - (i + m) % 3)]
                    + [None] * ((i + m) % 3),
                )
                for i, t in enumerate(targets)
            ]  # fmt: skip
            out.append(
                MeasurementReport(
                    report_id=f"p{p}-m{m}", source=f"probe-{p}",
                    started_at_ms=now_ms - (minutes + 3 - m) * 60_000,
                    spec=ProbeSpec(targets=targets, count=COUNT), results=results,
                )
            )  # fmt: skip
    return out


async def _seed(url: str, probes: int, locations: int, minutes: int) -> int:
    async with Services(Config(store=url)) as services:
        catalog, store = await services.catalog(), await services.store()
        locs = [
            Location(name=f"loc-{i}", country_code="AU", asn=64500 + i) for i in range(locations)
        ]
        await catalog.put_locations(locs)
        await catalog.put_ranges(
            [AddressRange(start=_target(i), end=_target(i), location=f"loc-{i}")
             for i in range(locations)]
        )  # fmt: skip
        for p in range(probes):
            await catalog.put_probe(
                Probe(probe_id=f"probe-{p}", token_hash="0" * 64, location="loc-0")
            )
        await catalog.put_user(User(name="bench", password_hash="unused", role="viewer"))
        reports = _reports(probes, locations, minutes, SystemClock().now_ms())
        for i in range(0, len(reports), 50):
            await service.ingest_reports(store, reports[i : i + 50], catalog=catalog)
        return sum(len(r.results) for r in reports)


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


async def _scrape(url: str, cap: int, repeat: int) -> dict[str, Any]:
    settings = ServiceSettings(metrics_max_series=cap)
    async with Services(Config(store=url, settings=settings)) as services:
        ctx = ApiContext(services=services, settings=settings)
        token = mint_session_token()
        await (await services.sessions()).create(token_hash(token), "bench", "viewer", 3600)
        headers = {"authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def timed(path: str) -> tuple[float, httpx.Response]:
                best, answer = float("inf"), None
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    answer = await client.get(path, headers=headers)
                    best = min(best, time.perf_counter() - t0)
                    assert answer.status_code == 200, answer.text
                assert answer is not None
                return best, answer

            metrics_s, got = await timed("/metrics")
            latency_s, _ = await timed(
                "/v1/latency?source_by=probe&dest_by=location&since=1h&limit=1000"
            )
    series = {line.split("{", 1)[1].split("}", 1)[0] for line in got.text.splitlines()
              if line.startswith("cloudperf_probes_sent_total{")}  # fmt: skip
    other = next(
        line for line in got.text.splitlines() if line.startswith("cloudperf_other_groups ")
    )
    return {
        "cap": cap,
        "series": len(series),
        "other_groups": int(float(other.split()[1])),
        "bytes": len(got.content),
        "metrics_ms": metrics_s * 1e3,
        "latency_json_ms": latency_s * 1e3,
        "ratio": metrics_s / latency_s,
    }


def _cli_s(argv: list[str], repeat: int) -> float:
    def once() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cloudperf_core.cli.main", *argv], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        return time.perf_counter() - t0

    return _best(once, repeat)


def _count_rows(argv: list[str]) -> int:
    out = subprocess.run([sys.executable, "-m", "cloudperf_core.cli.main", *argv], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return len(json.loads(out)) if "report" in argv else len(out.splitlines())


def run(quick: bool) -> dict[str, Any]:
    probes, locations, minutes = (20, 20, 10) if quick else (40, 40, 15)
    cap = 300 if quick else 1000
    repeat = 2 if quick else 3
    res: dict[str, Any] = {"probes": probes, "locations": locations, "minutes": minutes}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"
        t0 = time.perf_counter()
        res["windows"] = anyio.run(_seed, url, probes, locations, minutes)
        print(f"seeded {res['windows']} windows in {time.perf_counter() - t0:.1f} s", flush=True)
        res["scrape"] = scrape = anyio.run(_scrape, url, cap, repeat)
        print(
            f"/metrics at the cap: {scrape['series']} of {probes * locations} groups "
            f"({scrape['other_groups']} summed), {scrape['bytes']} bytes, "
            f"{scrape['metrics_ms']:.0f} ms; /v1/latency same groups (1000) "
            f"{scrape['latency_json_ms']:.0f} ms; ratio {scrape['ratio']:.2f}",
            flush=True,
        )
        common = ["--store", url, "--since", "2h"]
        report_argv = ["report", "--store", url, "--json", "--group-by", "pair"]
        report_rows = _count_rows(report_argv)
        report_s = _cli_s(report_argv, repeat)
        res["report_json"] = {
            "rows": report_rows,
            "s": report_s,
            "rows_per_s": report_rows / report_s,
        }
        print(f"cloudperf report --json: {report_rows} rows in {report_s:.2f} s "
              f"({report_rows / report_s:,.0f} rows/s)", flush=True)  # fmt: skip
        for fmt in ("csv", "jsonl", "influx", "openmetrics"):
            argv = ["export", *common, "--format", fmt]
            rows = res["windows"]
            seconds = _cli_s(argv, repeat)
            rate = rows / seconds
            vs = rate / (report_rows / report_s)
            res[f"export_{fmt}"] = {"rows": rows, "s": seconds, "rows_per_s": rate, "vs_report": vs}
            print(f"cloudperf export --format {fmt}: {rows} rows in {seconds:.2f} s "
                  f"({rate:,.0f} rows/s, {vs:.1f}x report's rows/s)", flush=True)  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "exports.json").write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_exports")
    p.add_argument("--quick", action="store_true")
    run(p.parse_args().quick)
