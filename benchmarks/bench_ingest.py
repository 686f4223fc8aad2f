"""Ingest throughput: batched, pooled writes vs the per-report statement pattern.

N synthetic reports (100 targets x 11 probes each, from 4 sources reporting every 10 s, 60 s
windows, so several reports merge into each window row) go through the core's ingest use-case
(``cloudperf_core.service.ingest_reports``) into MariaDB via ``adapters.aurora`` at batch
sizes 10 and 1000. In the same run, baselines write each report the old way: connect, INSERT the
row, DELETE all but the 7 newest rows of that pair with a subquery, commit, close --

- ``baseline_per_pair``: once per (source, target) pair of the report (100 times per report), as
  the old system did (one connection per statement, one row per pair);
- ``baseline_one_row``: once per report (a single summary row), a far kinder baseline.

Each variant gets its own fresh database; the baselines run over a prefix of the reports
(rates are reports per second of wall-clock time either way).

    python -m benchmarks.bench_ingest [--quick]

Server: the one ``CLOUDPERF_STORE`` names if it is a ``mysql://`` URL (read through
``cloudperf_core.bootstrap``; its database is not touched, each variant creates its own), else
``mysql://root@127.0.0.1:3306``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncmy

from adapters.aurora import AuroraMeasurementStore
from adapters.aurora.config import AuroraConfig
from benchmarks._gen import synthetic_reports
from cloudperf_core.backends import scheme_of
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import AddressRange, Location
from cloudperf_core.models import MeasurementReport
from cloudperf_core.ports import Catalog, MeasurementStore
from cloudperf_core.service import ingest_reports

RESULTS = Path(__file__).resolve().parent / "results"
N_SOURCES = 4
N_TARGETS = 100
COUNT = 11
T0_MS = 1_700_000_000_000

LEGACY_TABLE = """CREATE TABLE legacy_results (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  source VARCHAR(255) NOT NULL, destination VARCHAR(255) NOT NULL, ts BIGINT NOT NULL,
  avg_ms DOUBLE, min_ms DOUBLE, max_ms DOUBLE, p90_ms DOUBLE, loss DOUBLE,
  KEY ix_pair (source, destination, ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""
LEGACY_INSERT = (
    "INSERT INTO legacy_results (source, destination, ts, avg_ms, min_ms, max_ms, p90_ms, loss)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# The old system's retention: keep the 7 newest rows of the pair (derived table, because
# MySQL refuses LIMIT inside IN and a subquery on the table being deleted from).
LEGACY_PRUNE = (
    "DELETE FROM legacy_results WHERE source = %s AND destination = %s AND id NOT IN"
    " (SELECT id FROM (SELECT id FROM legacy_results WHERE source = %s AND destination = %s"
    " ORDER BY ts DESC, id DESC LIMIT 7) AS keep_rows)"
)


def _server_url() -> str:
    """The server to bench on: ``$CLOUDPERF_STORE`` if it is a mysql:// URL, else local."""
    store = Config.from_env().store
    return store if scheme_of(store) == "mysql" else "mysql://root@127.0.0.1:3306/cloudperf"


def _server() -> dict[str, Any]:
    config = AuroraConfig.from_url(_server_url())
    return {
        "host": config.host,
        "port": config.port,
        "user": config.user,
        "password": config.password,
    }


def make_reports(n: int, tag: str) -> list[MeasurementReport]:
    """``n`` reports round-robin over the sources, every 10 s each, to the same 100 targets."""
    return synthetic_reports(
        n,
        count=COUNT,
        sources=N_SOURCES,
        targets=N_TARGETS,
        start_ms=T0_MS,
        start_of=lambda i: (i // N_SOURCES) * 10_000,
        tag=tag,
    )


@asynccontextmanager
async def _database() -> AsyncIterator[str]:
    name = f"cloudperf_bench_{secrets.token_hex(5)}"
    admin = await asyncmy.connect(**_server(), autocommit=True)
    try:
        async with admin.cursor() as cur:
            # Hex-generated identifier (identifiers cannot be bound parameters).
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield name
    finally:
        async with admin.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@asynccontextmanager
async def _store(db: str) -> AsyncIterator[tuple[MeasurementStore, Catalog]]:
    s = _server()
    auth = quote(s["user"], safe="")
    if s["password"]:
        auth += ":" + quote(s["password"], safe="")
    url = f"mysql://{auth}@{s['host']}:{s['port']}/{db}?pool_size=4"
    async with Services(Config(store=url)) as services:
        store = await services.store()
        assert isinstance(store, AuroraMeasurementStore)
        await store.migrate()
        # A catalogue covering the targets, so ingest also resolves destination locations.
        catalog = await services.catalog()
        await catalog.put_locations([Location(name="bench", asn=64500, city="Lab")])
        await catalog.put_ranges(
            [AddressRange(start="198.18.0.0", end="198.18.255.255", location="bench")]
        )
        yield store, catalog


async def bench_store(reports: list[MeasurementReport], batch: int) -> dict[str, Any]:
    async with _database() as db, _store(db) as (store, catalog):
        start = time.perf_counter()
        for i in range(0, len(reports), batch):
            await ingest_reports(store, reports[i : i + batch], catalog=catalog)
        elapsed = time.perf_counter() - start
    return {"reports": len(reports), "seconds": elapsed, "reports_per_s": len(reports) / elapsed}


def _legacy_rows(report: MeasurementReport, per_pair: bool) -> list[tuple[Any, ...]]:
    groups = (
        [(r.target, [r]) for r in report.results]
        if per_pair
        else [(f"dest-{int(report.report_id.rsplit('-', 1)[1]) % 50}", report.results)]
    )
    rows = []
    for destination, results in groups:
        values = sorted(v for r in results for v in (r.rtts_us or []) if v is not None)
        sent = sum(r.sent or 0 for r in results)
        received = sum(r.received or 0 for r in results)
        rows.append(
            (
                report.source,
                destination,
                report.started_at_ms,
                sum(values) / len(values) / 1000 if values else None,
                values[0] / 1000 if values else None,
                values[-1] / 1000 if values else None,
                values[int(0.9 * (len(values) - 1))] / 1000 if values else None,
                1 - received / sent if sent else None,
            )
        )
    return rows


async def bench_baseline(reports: list[MeasurementReport], per_pair: bool) -> dict[str, Any]:
    async with _database() as db:
        conn = await asyncmy.connect(**_server(), database=db, autocommit=True)
        async with conn.cursor() as cur:
            await cur.execute(LEGACY_TABLE)
        conn.close()
        start = time.perf_counter()
        for report in reports:
            for row in _legacy_rows(report, per_pair):
                conn = await asyncmy.connect(**_server(), database=db)
                async with conn.cursor() as cur:
                    await cur.execute(LEGACY_INSERT, row)
                    await cur.execute(LEGACY_PRUNE, (row[0], row[1], row[0], row[1]))
                await conn.commit()
                await conn.ensure_closed()
        elapsed = time.perf_counter() - start
    return {"reports": len(reports), "seconds": elapsed, "reports_per_s": len(reports) / elapsed}


async def _run(quick: bool) -> dict[str, Any]:
    n = 1000 if quick else 5000
    n_per_pair = 20 if quick else 50
    n_one_row = 200 if quick else 1000
    reports = make_reports(n, "r")
    results: dict[str, Any] = {
        "reports": n,
        "targets_per_report": N_TARGETS,
        "probes_per_target": COUNT,
        "sources": N_SOURCES,
        "note": (
            f"baselines timed over the first {n_per_pair} (per pair) and {n_one_row} (one row)"
            " reports; rates are per second either way"
        ),
    }
    results["baseline_per_pair"] = await bench_baseline(reports[:n_per_pair], per_pair=True)
    results["baseline_one_row"] = await bench_baseline(reports[:n_one_row], per_pair=False)
    for batch in (10, 1000):
        results[f"batch_{batch}"] = await bench_store(reports, batch)
    for base in ("per_pair", "one_row"):
        rate = results[f"baseline_{base}"]["reports_per_s"]
        for batch in (10, 1000):
            results[f"ratio_batch_{batch}_vs_{base}"] = (
                results[f"batch_{batch}"]["reports_per_s"] / rate
            )
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"{'variant':<36}{'reports':>8}{'seconds':>9}{'reports/s':>11}{'vs pair':>9}{'vs row':>9}"
    )
    for label, key in [
        ("baseline: per pair (old way)", "baseline_per_pair"),
        ("baseline: one row per report", "baseline_one_row"),
        ("aurora store, batch 10", "batch_10"),
        ("aurora store, batch 1000", "batch_1000"),
    ]:
        r = results[key]
        ratios = ""
        if key.startswith("batch_"):
            ratios = "".join(
                f"{results[f'ratio_{key}_vs_{b}']:>8.1f}x" for b in ("per_pair", "one_row")
            )
        print(
            f"{label:<36}{r['reports']:>8}{r['seconds']:>9.2f}{r['reports_per_s']:>11.1f}{ratios}"
        )
    print(results["note"])


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark, print a table, write ``benchmarks/results/ingest.json``."""
    results = asyncio.run(_run(quick))
    _print(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingest")
    p.add_argument("--quick", action="store_true", help="fewer reports")
    run(p.parse_args().quick)


if __name__ == "__main__":
    main()
