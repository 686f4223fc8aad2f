"""Worker throughput: reports taken from the SQS emulator and ingested, vs direct ingest.

N synthetic reports (100 targets x 11 probes, 4 sources every 10 s, as in bench_ingest) are
sent to a queue on moto's SQS server (``moto_server`` in its own process, as SQS is a remote
service), then the worker use-case ``service.process_report_batch`` receives, decodes,
validates and ingests them into a fresh store until all are in. The baseline, in the same run,
is ``service.ingest_reports`` of the same reports into another fresh store, in batches of
the same size (10: the most one SQS receive returns), so the ratio is what the queue costs.

Variants: one worker loop, and ``--receivers`` concurrent loops (SQS hands each loop its own
messages; the store serialises the writes). Stores: SQLite (the embedded default) and
MariaDB (the server of ``CLOUDPERF_STORE`` if it is a mysql:// URL, else 127.0.0.1:3306)
when it answers.

    python -m benchmarks.bench_worker [--quick] [--reports N] [--receivers K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio

from adapters.memory import InMemoryMeasurementStore
from benchmarks.bench_ingest import _database, _server, make_reports
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import MeasurementReport
from cloudperf_core.ports import MeasurementStore, Migratable, ReportQueue
from cloudperf_core.service import encode_report, ingest_reports, process_report_batch

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 10  # SQS returns at most 10 messages per receive
BUDGET = 0.80  # DESIGN.md: the worker >= 80 % of direct ingest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("moto_server")
    argv = [str(exe), "-H", "127.0.0.1", "-p", str(port)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    child.wait(10)


@asynccontextmanager
async def moto_server() -> AsyncIterator[str]:
    """``moto_server`` in a child process; yields its endpoint once it answers."""
    port = _free_port()
    child = _start_moto(port)
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    await anyio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(child)


def _queue_url(endpoint: str) -> str:
    name = f"bench-worker-{uuid.uuid4().hex[:12]}"
    query = {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "create": 1,
        "dlq": f"{name}-dlq",
        "max_receives": 5,
        "wait_s": 0,
    }
    return f"sqs://{name}?{urlencode(query)}"


async def _direct(store: MeasurementStore, reports: list[MeasurementReport]) -> Timing:
    clock = Timing.start()
    for i in range(0, len(reports), BATCH):
        outcome = await ingest_reports(store, reports[i : i + BATCH])
        assert len(outcome.ingested) == len(reports[i : i + BATCH])
    return clock.stop()


class Timing:
    """Wall seconds, and CPU seconds of this process (the SQS server runs in another)."""

    def __init__(self, wall_s: float, cpu_s: float) -> None:
        self.wall_s, self.cpu_s = wall_s, cpu_s

    @classmethod
    def start(cls) -> Timing:
        return cls(time.perf_counter(), time.process_time())

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.wall_s, time.process_time() - self.cpu_s)

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall_s + other.wall_s, self.cpu_s + other.cpu_s)


async def _drain(queue: ReportQueue, store: MeasurementStore, n: int, receivers: int) -> Timing:
    """The time until ``n`` reports are ingested by ``receivers`` concurrent worker loops."""
    ingested = 0

    async def loop() -> None:
        nonlocal ingested
        while ingested < n:
            result = await process_report_batch(queue, store, max_messages=BATCH)
            if result.failed:
                raise BackendUnavailableError(f"the worker failed records: {result.failed}")
            ingested += len(result.ingested)

    clock = Timing.start()
    async with anyio.create_task_group() as tg:
        for _ in range(receivers):
            tg.start_soon(loop)
    return clock.stop()


async def _worker(
    queue: ReportQueue, store: MeasurementStore, bodies: list[bytes], receivers: int, depth: int
) -> Timing:
    """Send ``depth`` reports (not timed), drain them (timed), until all are in: ``depth`` =
    all of them is a backlog; ``depth`` = one batch is a worker that keeps up."""
    total = Timing(0.0, 0.0)
    for i in range(0, len(bodies), depth):
        part = bodies[i : i + depth]
        await queue.send(part)
        total += await _drain(queue, store, len(part), receivers)
    return total


async def _receive_s(queue: ReportQueue, bodies: list[bytes]) -> float:
    """Seconds of one receive of a batch with ``bodies`` on the queue (released after)."""
    await queue.send(bodies)
    start = time.perf_counter()
    got = await queue.receive(BATCH, 30)
    seconds = time.perf_counter() - start
    await queue.ack([m.receipt for m in got])
    await _drain(queue, InMemoryMeasurementStore(), len(bodies) - len(got), 1)
    return seconds


StoreFactory = Callable[[], Any]  # an async context manager yielding a store URL


@asynccontextmanager
async def _sqlite_url() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@asynccontextmanager
async def _mysql_url() -> AsyncIterator[str]:
    s = _server()
    async with _database() as db:
        auth = s["user"] + (f":{s['password']}" if s["password"] else "")
        yield f"mysql://{auth}@{s['host']}:{s['port']}/{db}?pool_size=4"


async def _migrated(services: Services) -> MeasurementStore:
    """The store, its schema created (MariaDB needs ``migrate``; SQLite does it on open)."""
    store = await services.store()
    if isinstance(store, Migratable):
        await store.migrate()
    return store


async def _one_store(
    name: str,
    fresh_url: StoreFactory,
    endpoint: str,
    reports: list[MeasurementReport],
    receivers: int,
) -> dict[str, Any]:
    bodies = [encode_report(r) for r in reports]
    n = len(reports)
    out: dict[str, Any] = {"store": name, "reports": n}
    async with fresh_url() as url, Services(Config(store=url)) as services:
        direct = await _direct(await _migrated(services), reports)
    out["direct_rps"] = n / direct.wall_s
    out["direct_cpu_ms_per_report"] = 1000 * direct.cpu_s / n
    variants = [
        ("backlog", n, 1),
        (f"backlog x{receivers}", n, receivers),
        ("keeping up", BATCH, 1),
    ]
    for label, depth, k in variants:
        async with fresh_url() as url:
            config = Config(store=url, reports=_queue_url(endpoint))
            async with Services(config) as services:
                queue, store = await services.reports(), await _migrated(services)
                took = await _worker(queue, store, bodies, k, depth)
                if label == "backlog":
                    out["receive_s_at_depth"] = {
                        d: await _receive_s(queue, bodies[:d]) for d in (BATCH, n)
                    }
        out[label] = {
            "rps": n / took.wall_s,
            "ratio": n / took.wall_s / out["direct_rps"],
            "cpu_ms_per_report": 1000 * took.cpu_s / n,
            # The worker's own work (this process) against direct ingest's.
            "cpu_ratio": direct.cpu_s / took.cpu_s,
        }
    return out


async def _mysql_answers() -> bool:
    s = _server()
    try:
        with socket.create_connection((s["host"], s["port"]), timeout=1):
            return True
    except OSError:
        return False


async def _run(n: int, receivers: int) -> dict[str, Any]:
    reports = make_reports(n, tag="w")
    results: dict[str, Any] = {"batch": BATCH, "receivers": receivers, "budget": BUDGET}
    async with moto_server() as endpoint:
        results["sqlite"] = await _one_store("sqlite", _sqlite_url, endpoint, reports, receivers)
        if await _mysql_answers():
            results["mysql"] = await _one_store("mysql", _mysql_url, endpoint, reports, receivers)
    return results


def _print(results: dict[str, Any]) -> None:
    print(f"worker: reports from moto's SQS server -> store, batches of {results['batch']}")
    for name in ("sqlite", "mysql"):
        r = results.get(name)
        if r is None:
            continue
        print(f"{name}: direct ingest {r['direct_rps']:.0f} reports/s"
              f" ({r['direct_cpu_ms_per_report']:.2f} ms CPU each)")  # fmt: skip
        for label, v in r.items():
            if isinstance(v, dict) and "rps" in v:
                print(f"  worker, {label:13} {v['rps']:7.0f} reports/s  ratio {v['ratio']:5.2f}"
                      f"  CPU {v['cpu_ms_per_report']:.2f} ms each,"
                      f" ratio {v['cpu_ratio']:.2f}")  # fmt: skip
        depth = ", ".join(f"{d} queued: {s:.3f} s" for d, s in r["receive_s_at_depth"].items())
        print(f"  one receive of {results['batch']} from the emulator: {depth}")
    print(f"budget: worker >= {results['budget']:.0%} of direct ingest")


def run(quick: bool, n: int | None = None, receivers: int = 4) -> dict[str, Any]:
    """Run the benchmark, print a table, write ``benchmarks/results/worker.json``."""
    results = asyncio.run(_run(n or (100 if quick else 400), receivers))
    _print(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "worker.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_worker")
    p.add_argument("--quick", action="store_true", help="100 reports instead of 400")
    p.add_argument("--reports", type=int, help="number of reports (overrides --quick)")
    p.add_argument("--receivers", type=int, default=4, help="concurrent worker loops")
    args = p.parse_args()
    run(args.quick, args.reports, args.receivers)


if __name__ == "__main__":
    main()
