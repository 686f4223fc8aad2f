"""The web console: bytes of JS+CSS shipped, and the time from navigation to a rendered
200 x 200 matrix in headless chromium.

Synthetic data (documentation ranges only; nothing is probed): N source locations with one
probe each and N destination locations, each in its own country, one report per probe over
every destination (10 probes per target), ingested into memory backends through the real
use-case. The API runs under uvicorn in this process; chromium (Debian's, driven by
Playwright) logs in and opens ``#/overview?dest_by=country`` several times.

Printed per run: navigation to the matrix drawn with every cell (the page's own
``performance.now()``, which counts from navigation start), how much of it the API took
(resource timing of the matrix pages), and the last draw on the canvas. The same runs again
with the server's ``group_windows`` summarizing group by group (``summarize_rows``, the
per-cell path the matrix had before ``summarize_many``) give the ratio of the batch stats;
runs of the two alternate. A second baseline is the same cells fetched through the generic
``GET /v1/latency`` list (1000 rows a page), which is what the console would need without the
matrix endpoint. The first run's page is saved as
``build/screenshots/matrix-synthetic.png``.

    python -m benchmarks.bench_console [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import ipaddress
import json
import random
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cloudperf_core import service
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.routes.console import Console
from cloudperf_core.auth import PasswordHasher
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import AddressRange, Location, Probe
from cloudperf_core.clock import SystemClock
from cloudperf_core.models import (
    LatencyStats,
    MeasurementReport,
    ProbeSpec,
    TargetResult,
    WindowAggregate,
)
from cloudperf_core.service import directory
from cloudperf_core.settings import ServiceSettings
from cloudperf_core.windows import group
from cloudperf_core.windows.summary import summarize_rows

RESULTS = Path(__file__).resolve().parent / "results"
SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
BUDGET_BYTES = 300 * 1024
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "bench", "bench-password-1"
COUNT = 10  # probes per target per report
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _per_group(groups: Sequence[Sequence[WindowAggregate]]) -> list[LatencyStats]:
    return [summarize_rows(rows) for rows in groups]


@contextlib.contextmanager
def per_group_path() -> Iterator[None]:
    """The baseline of the matrix's stats: group_windows summarizing one group at a time."""
    batch = getattr(group, "summarize_many")  # noqa: B009
    setattr(group, "summarize_many", _per_group)  # noqa: B010
    try:
        yield
    finally:
        setattr(group, "summarize_many", batch)  # noqa: B010


def cheap_config() -> Config:
    name = uuid.uuid4().hex
    settings = ServiceSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
    return Config(
        store=f"memory://{name}",
        jobs=f"memory://{name}",
        reports=f"memory://{name}",
        cache=f"memory://{name}",
        settings=settings,
    )


def _location(i: int) -> Location:
    code = "Z" + _LETTERS[i // 26 % 26] if i >= 26 * 26 else _LETTERS[i // 26] + _LETTERS[i % 26]
    return Location(
        name=f"AS{64512 + i} {code} City {i}",
        country_code=code,
        country_name=f"Country {i}",
        city=f"City {i}",
        asn=64512 + i,
        asn_name=f"Synthetic {i}",
    )


def _target(i: int) -> str:
    return str(ipaddress.ip_address(f"2001:db8:{i:x}::1"))


async def seed_world(config: Config, size: int, *, seed: int = 1) -> None:
    """``size`` source locations (one probe each) x ``size`` destinations, one report per
    probe (every target, ``COUNT`` probes each) a few minutes ago, plus a user."""
    rng = random.Random(seed)
    async with Services(config) as services:
        catalog = await services.catalog()
        store = await services.store()
        locations = [_location(i) for i in range(size)]
        await catalog.put_locations(locations)
        await catalog.put_ranges(
            [
                AddressRange(
                    start=str(ipaddress.ip_address(f"2001:db8:{i:x}::")),
                    end=str(ipaddress.ip_address(f"2001:db8:{i:x}::ffff")),
                    location=loc.name,
                )
                for i, loc in enumerate(locations)
            ]
        )
        for i, loc in enumerate(locations):
            await catalog.put_probe(Probe(probe_id=f"p{i}", token_hash="0" * 64, location=loc.name))
        hasher = PasswordHasher(config.settings)
        await directory.create_user(catalog, hasher, USER, PASSWORD, "viewer")
        now_ms = SystemClock().now_ms()
        targets = [_target(j) for j in range(size)]
        reports = []
        for i in range(size):
            results = []
            for j, target in enumerate(targets):
                base_us = 2_000 + abs(i - j) * 1_500
                loss = 0.3 if j % 17 == 0 else 0.02
                rtts = [
                    None if rng.random() < loss else int(base_us * (1 + rng.expovariate(6)))
                    for _ in range(COUNT)
                ]
                received = sum(r is not None for r in rtts)
                results.append(
                    TargetResult(
                        target=target, sent=COUNT, received=received, duplicates=0, rtts_us=rtts
                    )
                )
            reports.append(
                MeasurementReport(
                    report_id=f"r{i}",
                    source=f"p{i}",
                    started_at_ms=now_ms - 180_000,
                    spec=ProbeSpec(targets=tuple(targets), count=COUNT),
                    results=results,
                )
            )
        for chunk in range(0, len(reports), 20):
            await service.ingest_reports(store, reports[chunk : chunk + 20], catalog=catalog)


class ServerThread:
    """The API app under uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, config: Config) -> None:
        ctx = ApiContext(services=Services(config), settings=config.settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        uv = uvicorn.Config(create_app(ctx), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(uv)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def shipped() -> dict[str, int]:
    files = Console.from_package()
    js_css = {n: a.body for n, a in files.assets.items() if n.endswith((".js", ".css"))}
    return {
        "js_css_bytes": sum(len(b) for b in js_css.values()),
        "js_css_gzip_bytes": sum(len(gzip.compress(b, 9)) for b in js_css.values()),
        "files": len(js_css),
    }


def _browser_runs(url: str, runs: int) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """``runs`` page loads with the batch stats and ``runs`` with the per-group path."""
    from playwright.sync_api import sync_playwright

    out: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        login = context.request.post(
            f"{url}/v1/login", data={"username": USER, "password": PASSWORD}
        )
        assert login.ok, login.text()
        page = context.new_page()
        for run in range(2 * runs):
            per_group = run % 4 in (1, 2)  # batch, per-group, per-group, batch, ...
            with per_group_path() if per_group else contextlib.nullcontext():
                page.goto("about:blank")
                page.goto(f"{url}/#/overview?dest_by=country&range=1h")
                page.wait_for_selector(
                    "body[data-matrix-rendered]", state="attached", timeout=120_000
                )
            sample = page.evaluate(
                """() => {
                  const api = performance.getEntriesByType("resource")
                    .filter((e) => e.name.includes("/v1/latency/matrix"));
                  return {
                    rendered_ms: Number(document.body.dataset.matrixRendered),
                    draw_ms: Number(document.body.dataset.matrixDrawMs),
                    api_ms: api.reduce((s, e) => s + e.duration, 0),
                    api_pages: api.length,
                    cells: Number(document.body.dataset.matrixCells),
                  };
                }"""
            )
            (baseline if per_group else out).append(sample)
            if run == 0:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=SHOTS / "matrix-synthetic.png")
        browser.close()
    return out, baseline


def _baseline_s(url: str, size: int) -> tuple[float, int]:
    """All the cells through ``GET /v1/latency`` pages of 1000 rows (no browser)."""
    with httpx.Client(base_url=url, timeout=600) as client:
        got = client.post("/v1/login", json={"username": USER, "password": PASSWORD})
        got.raise_for_status()
        query: dict[str, Any] = {
            "source_by": "probe_location",
            "dest_by": "country",
            "since": "1h",
            "limit": 1000,
        }
        rows = 0
        t0 = time.perf_counter()
        while True:
            page = client.get("/v1/latency", params=query).json()
            rows += len(page["items"])
            if not page["next_cursor"]:
                break
            query["cursor"] = page["next_cursor"]
        return time.perf_counter() - t0, rows


def run(quick: bool) -> dict[str, Any]:
    size = 100 if quick else 200
    runs = 3 if quick else 5
    bytes_ = shipped()
    print(
        f"shipped JS+CSS: {bytes_['js_css_bytes']:,} bytes in {bytes_['files']} files "
        f"({bytes_['js_css_gzip_bytes']:,} gzipped); budget {BUDGET_BYTES:,}"
    )
    config = cheap_config()
    asyncio.run(seed_world(config, size))
    with ServerThread(config) as server:
        samples, per_group = _browser_runs(server.url, runs)
        baseline_s, rows = _baseline_s(server.url, size)
    med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    old = {k: statistics.median(s[k] for s in per_group) for k in per_group[0]}
    print(f"{size} x {size} matrix, {int(med['cells']):,} cells, median of {runs} runs each:")
    print("                               batch stats   per-group path")
    for label, key in (("navigation -> matrix drawn", "rendered_ms"),
                       ("of which API (matrix pages)", "api_ms")):  # fmt: skip
        print(
            f"  {label:<28} {med[key]:8.0f} ms   {old[key]:8.0f} ms   ({old[key] / med[key]:.1f}x)"
        )
    print(f"  API pages per matrix         {int(med['api_pages']):8d}")
    print(f"  last canvas draw             {med['draw_ms']:8.1f} ms   {old['draw_ms']:8.1f} ms")
    print(
        f"baseline: the same cells via GET /v1/latency (1000 a page): {baseline_s * 1000:,.0f} ms "
        f"for {rows:,} rows"
    )
    result = {"size": size, "shipped": bytes_, "runs": samples, "median": med,
              "per_group_runs": per_group, "per_group_median": old,
              "api_ratio": old["api_ms"] / med["api_ms"],
              "rendered_ratio": old["rendered_ms"] / med["rendered_ms"],
              "baseline_latency_list_ms": baseline_s * 1000}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_console")
    p.add_argument("--quick", action="store_true", help="100 x 100, three runs")
    run(p.parse_args().quick)


if __name__ == "__main__":
    main()
