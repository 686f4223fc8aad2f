"""Cold import time of each Lambda handler module, against baselines in the same run.

Each case is imported in a fresh interpreter (what a Lambda cold start does with the handler
module), timed inside the child around the import alone, so interpreter start-up is not
counted: wall time, and the CPU time of the import (``time.process_time``), which is what an
idle machine's wall time comes to and what other work on a busy one does not inflate much.
The budget is judged on CPU time. Cases run interleaved, round after round, so load on the
machine hits every case alike; the table shows medians. Baselines: the stdlib a handler
cannot do without (asyncio, json, logging), and that plus Powertools' Logger and Metrics (the
floor every handler pays).
For scale, what the handlers leave to their first invocation is timed too (the API app with
Mangum, the adapters with their drivers). Budget (DESIGN.md): <= 300 ms per handler module.

    python -m benchmarks.bench_lambda [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 300.0
HANDLERS = ("api", "worker", "scheduler", "admin")
STDLIB = "import asyncio, json, logging"
FLOOR = STDLIB + "\nfrom aws_lambda_powertools import Logger, Metrics"
CASES: dict[str, str] = {
    "baseline: stdlib (asyncio, json, logging)": STDLIB,
    "baseline: stdlib + Powertools Logger, Metrics": FLOOR,
    **{f"lambda_entry.{name}": f"import lambda_entry.{name}" for name in HANDLERS},
    "deferred: API app + Mangum (api, 1st request)": ("import mangum, cloudperf_core.api.app"),
    "deferred: adapters + drivers (1st use)": (
        "import adapters.aurora, adapters.sqs, adapters.elasticache, cloudperf_core.service"
    ),
}
_CHILD = (
    "import time\nt, c = time.perf_counter(), time.process_time()\n{code}\n"
    "print(time.perf_counter() - t, time.process_time() - c)\n"
)


def import_s(code: str) -> tuple[float, float]:
    """(wall, CPU) seconds the import statements in ``code`` take in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def run(quick: bool = False) -> dict[str, object]:
    rounds = 5 if quick else 15
    for code in CASES.values():  # compile .pyc files first: a deployed bundle ships them warm
        import_s(code)
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    cpus: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, code in CASES.items():
            wall, cpu = import_s(code)
            walls[name].append(wall * 1000)
            cpus[name].append(cpu * 1000)
    wall_ms = {name: statistics.median(ms) for name, ms in walls.items()}
    cpu_ms = {name: statistics.median(ms) for name, ms in cpus.items()}
    floor = cpu_ms["baseline: stdlib + Powertools Logger, Metrics"]
    stdlib = cpu_ms["baseline: stdlib (asyncio, json, logging)"]
    print(f"cold import, median of {rounds} fresh interpreters (interpreter start-up excluded)")
    print(f"{'module':<48} {'wall ms':>8} {'CPU ms':>7} {'x stdlib':>8} {'x floor':>8}")
    rows = []
    for name in CASES:
        cpu = cpu_ms[name]
        verdict = ""
        if name.startswith("lambda_entry."):
            verdict = "  within 300 ms" if cpu <= BUDGET_MS else "  OVER 300 ms"
        print(
            f"{name:<48} {wall_ms[name]:>8.1f} {cpu:>7.1f} {cpu / stdlib:>8.2f} "
            f"{cpu / floor:>8.2f}{verdict}"
        )
        rows.append(
            {
                "case": name,
                "wall_ms": round(wall_ms[name], 2),
                "cpu_ms": round(cpu, 2),
                "x_stdlib": round(cpu / stdlib, 3),
                "x_floor": round(cpu / floor, 3),
            }
        )
    print("ratios are of CPU time")
    worst = max(cpu_ms[f"lambda_entry.{n}"] for n in HANDLERS)
    result: dict[str, object] = {
        "rounds": rounds,
        "budget_ms": BUDGET_MS,
        "worst_handler_cpu_ms": round(worst, 2),
        "within_budget": worst <= BUDGET_MS,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lambda.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_lambda")
    p.add_argument("--quick", action="store_true", help="fewer rounds")
    run(p.parse_args().quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
