"""Runner overhead: ``FpingRunner.measure`` against one raw fping call with the same work.

Both sides probe the same loopback targets (127.0.0.1..127.0.0.N) with the same count,
period, timeout and total packet rate (``-i``). Runs alternate (raw, runner, runner batched,
raw, ...) so drift hits every variant alike; we report wall-clock medians and the overhead
ratio ``runner_median / raw_median - 1`` (budget: <= 10 %), plus the CPU time our process
spent per runner call and in parse + stats alone.

    python -m benchmarks.bench_runner [--quick]

Loopback only: no packet leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from cloudperf_core.bootstrap import Config
from cloudperf_core.fping.argv import build_probe_argv
from cloudperf_core.fping.parser import parse_fping_output
from cloudperf_core.fping.runner import FpingRunner, resolve_fping_path
from cloudperf_core.models import ProbeSpec
from cloudperf_core.stats import compute_stats_many

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raw(argv: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"raw fping failed ({done.returncode}): {done.stderr!r}")
    return elapsed, done.stderr


async def _timed_measure(runner: FpingRunner, spec: ProbeSpec) -> tuple[float, float]:
    cpu = _cpu_s()
    start = time.perf_counter()
    results = await runner.measure(spec)
    elapsed = time.perf_counter() - start
    compute_stats_many(results)  # what `cloudperf measure` does next; counted in CPU
    if len(results) != len(spec.targets) or any(r.received != spec.count for r in results):
        raise RuntimeError("runner lost loopback replies; the comparison would be unfair")
    return elapsed, _cpu_s() - cpu


def _parse_stats_cpu_s(stderr: bytes, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        compute_stats_many(parse_fping_output(stderr).targets)
    return (time.process_time() - start) / repeats


async def _bench(n_targets: int, count: int, repeats: int) -> dict[str, Any]:
    fping = resolve_fping_path(Config.from_env().fping_path)
    targets = tuple(f"127.0.0.{i}" for i in range(1, n_targets + 1))
    spec = ProbeSpec(targets=targets, count=count, period_ms=20, timeout_ms=500, interval_ms=1)
    raw_argv = build_probe_argv(spec, fping)
    single = FpingRunner(fping_path=fping)
    # Four concurrent batches, each at -i 4: the same total packet rate as the raw call.
    batched = FpingRunner(
        fping_path=fping, max_targets_per_batch=-(-n_targets // 4), max_concurrency=4
    )
    wall: dict[str, list[float]] = {"raw": [], "runner": [], "runner_4_batches": []}
    cpu: dict[str, list[float]] = {"runner": [], "runner_4_batches": []}
    stderr = b""
    await anyio.to_thread.run_sync(_raw, raw_argv)  # warm-up (page cache, ARP-free anyway)
    await single.measure(spec)
    for _ in range(repeats):
        elapsed, stderr = await anyio.to_thread.run_sync(_raw, raw_argv)
        wall["raw"].append(elapsed)
        for name, runner in (("runner", single), ("runner_4_batches", batched)):
            elapsed, cpu_s = await _timed_measure(runner, spec)
            wall[name].append(elapsed)
            cpu[name].append(cpu_s)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    return {
        "targets": n_targets,
        "count": count,
        "period_ms": spec.period_ms,
        "interval_ms": spec.interval_ms,
        "timeout_ms": spec.timeout_ms,
        "repeats": repeats,
        "wall_median_s": medians,
        "wall_all_s": wall,
        "overhead_ratio": {
            name: medians[name] / medians["raw"] - 1 for name in ("runner", "runner_4_batches")
        },
        "cpu_median_s": {name: statistics.median(values) for name, values in cpu.items()},
        "parse_stats_cpu_s": _parse_stats_cpu_s(stderr, 200),
        "budget_overhead_ratio": 0.10,
    }


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark, print a table, write ``benchmarks/results/runner.json``."""
    if shutil.which("fping") is None:
        print("fping not installed: runner benchmark skipped")
        return {"skipped": "fping not installed"}
    n_targets, count, repeats = (20, 10, 3) if quick else (50, 20, 7)
    result = anyio.run(_bench, n_targets, count, repeats)
    med = result["wall_median_s"]
    over = result["overhead_ratio"]
    print(
        f"runner overhead: {n_targets} loopback targets x {count} probes, "
        f"-p {result['period_ms']} -i {result['interval_ms']} -t {result['timeout_ms']}, "
        f"median of {repeats}"
    )
    print(f"{'variant':<18} {'wall median':>12} {'overhead':>9} {'our CPU':>9}")
    print(f"{'raw fping':<18} {med['raw'] * 1000:>10.1f}ms {'-':>9} {'-':>9}")
    for name in ("runner", "runner_4_batches"):
        print(
            f"{name:<18} {med[name] * 1000:>10.1f}ms {over[name] * 100:>8.1f}% "
            f"{result['cpu_median_s'][name] * 1000:>7.1f}ms"
        )
    print(
        f"parse + stats alone: {result['parse_stats_cpu_s'] * 1000:.2f} ms CPU per run "
        f"(budget: overhead <= 10 %)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runner.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_runner")
    parser.add_argument("--quick", action="store_true", help="smaller run, fewer repetitions")
    run(parser.parse_args(argv).quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
