"""The matrix API: every page of ``GET /v1/latency/matrix`` for a 200 x 200 matrix, with the
stats of all cells computed at once (``summarize_many``) against the per-cell path.

The world is bench_console's (documentation ranges only; nothing is probed): N source
locations with one probe each, N destination countries, one report per probe over every
destination, in the memory store and in the SQLite store. The app runs in this process behind
httpx's ASGI transport (no sockets, so the figures are the server's work). Each round fetches
every page twice, in alternating order: with the batch path, and with the baseline -- the same
route with ``group_windows`` summarizing group by group through ``summarize_rows``, which is
what the matrix did before. The pages of both must be the same bytes. Also printed: how many
``fetch_windows`` calls the store answered per matrix and the time they took (one query per
page of source locations, never one per cell).

    python -m benchmarks.bench_matrix [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_console import PASSWORD, USER, cheap_config, per_group_path, seed_world
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.models import StatsQuery, WindowAggregate

RESULTS = Path(__file__).resolve().parent / "results"


class FetchMeter:
    """Counts and times the store's ``fetch_windows`` calls (patched on its class)."""

    def __init__(self, store_class: Any) -> None:
        self.cls = store_class
        self.calls = 0
        self.seconds = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = self.cls.fetch_windows

        async def timed(store: Any, query: StatsQuery) -> list[WindowAggregate]:
            t0 = time.perf_counter()
            try:
                rows: list[WindowAggregate] = await original(store, query)
                return rows
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - t0

        self.cls.fetch_windows = timed
        try:
            yield
        finally:
            self.cls.fetch_windows = original


async def _all_pages(client: httpx.AsyncClient) -> tuple[float, list[bytes]]:
    query: dict[str, Any] = {"dest_by": "country", "since": "1h"}
    bodies: list[bytes] = []
    t0 = time.perf_counter()
    while True:
        got = await client.get("/v1/latency/matrix", params=query)
        got.raise_for_status()
        bodies.append(got.content)
        cursor = got.json()["next_cursor"]
        if not cursor:
            return time.perf_counter() - t0, bodies
        query["cursor"] = cursor


def _cells(pages: list[bytes]) -> list[Any]:
    """Every page but its time range (``since=1h`` moves with the clock)."""
    out = []
    for body in pages:
        page = json.loads(body)
        del page["since_s"], page["until_s"]
        out.append(page)
    return out


async def measure(config: Config, rounds: int) -> dict[str, Any]:
    ctx = ApiContext(services=Services(config), settings=config.settings)
    meter = FetchMeter(type(await ctx.services.store()))
    transport = httpx.ASGITransport(app=create_app(ctx))
    batch_s: list[float] = []
    old_s: list[float] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login = await client.post("/v1/login", json={"username": USER, "password": PASSWORD})
        login.raise_for_status()
        await _all_pages(client)  # warm: imports, caches of the catalogue
        with meter.installed():
            for r in range(rounds):
                order = ("batch", "old") if r % 2 == 0 else ("old", "batch")
                for path in order:
                    if path == "batch":
                        seconds, new_pages = await _all_pages(client)
                        batch_s.append(seconds)
                    else:
                        with per_group_path():
                            seconds, old_pages = await _all_pages(client)
                        old_s.append(seconds)
                if _cells(new_pages) != _cells(old_pages):
                    raise AssertionError("the batch and per-group paths answered differently")
    await ctx.services.aclose()
    cells = sum(len(json.loads(b)["cells"]["source"]) for b in new_pages)
    fetches = meter.calls / (2 * rounds)
    return {
        "cells": cells,
        "pages": len(new_pages),
        "batch_ms": [s * 1000 for s in batch_s],
        "per_group_ms": [s * 1000 for s in old_s],
        "batch_median_ms": statistics.median(batch_s) * 1000,
        "per_group_median_ms": statistics.median(old_s) * 1000,
        "speedup": statistics.median(old_s) / statistics.median(batch_s),
        "fetch_calls_per_matrix": fetches,
        "fetch_ms_per_matrix": meter.seconds / (2 * rounds) * 1000,
    }


def sqlite_config(directory: Path) -> Config:
    memory = cheap_config()
    return Config(
        store=f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}",
        jobs=memory.jobs,
        reports=memory.reports,
        cache=memory.cache,
        settings=memory.settings,
    )


def run(quick: bool) -> dict[str, Any]:
    size = 100 if quick else 200
    rounds = 3 if quick else 5
    out: dict[str, Any] = {"size": size, "rounds": rounds}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in (("memory", cheap_config()), ("sqlite", sqlite_config(Path(tmp)))):
            asyncio.run(seed_world(config, size))
            got = asyncio.run(measure(config, rounds))
            out[name] = got
            print(
                f"{name:>6} store, {size} x {size} ({got['cells']:,} cells, {got['pages']} pages), "
                f"median of {rounds}: batch {got['batch_median_ms']:,.0f} ms, per-group "
                f"{got['per_group_median_ms']:,.0f} ms -> {got['speedup']:.1f}x; store: "
                f"{got['fetch_calls_per_matrix']:.0f} fetches, {got['fetch_ms_per_matrix']:,.0f} ms"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matrix.json").write_text(json.dumps(out, indent=2))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_matrix")
    p.add_argument("--quick", action="store_true", help="100 x 100, three rounds")
    run(p.parse_args().quick)


if __name__ == "__main__":
    main()
