"""Peak memory of ingesting one very large report into SQLite, as a user does it.

A report of 200,000 targets x 20 probes (~54 MB of JSON, as ``cloudperf measure
--report-out`` writes it) goes through ``cloudperf ingest FILE --store sqlite:///...`` in a
child process; the child's peak resident set size is the figure. For scale, the same run
measures a child that only decodes and validates the report (the floor: the report's own
Python objects), so the table shows what ingest adds on top of holding the report.

    python -m benchmarks.bench_ingest_memory [--quick] [--targets N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.service import encode_report

RESULTS = Path(__file__).resolve().parent / "results"
COUNT = 20

_DECODE_ONLY = """
import sys
from cloudperf_core.service import decode_report
with open(sys.argv[1], "rb") as f:
    decode_report(f.read())
"""


def big_report(n_targets: int) -> MeasurementReport:
    """One report from one source to ``n_targets`` distinct addresses, ``COUNT`` probes each."""
    targets = tuple(f"10.{t >> 16 & 255}.{t >> 8 & 255}.{t & 255}" for t in range(n_targets))
    results = []
    for t, target in enumerate(targets):
        rtts: list[int | None] = [
            None if (t + k) % 17 == 0 else 5000 + 37 * ((t * 13 + k * 3) % 400)
            for k in range(COUNT)
        ]
        received = sum(v is not None for v in rtts)
        results.append(TargetResult(target=target, sent=COUNT, received=received, rtts_us=rtts))
    return MeasurementReport(
        report_id=f"big-{n_targets}",
        source="bench",
        started_at_ms=time.time_ns() // 1_000_000,
        spec=ProbeSpec(targets=targets, count=COUNT),
        results=results,
    )


def _peak_mb(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a child running ``argv``; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stderr.strip()}")
    return float(done.stdout.strip()) / 1024, seconds


def _measured(argv: list[str]) -> list[str]:
    """``argv`` run under a small wrapper that prints its peak RSS (KiB) when it ends: the
    run is the wrapper's only child, so RUSAGE_CHILDREN is that run's alone."""
    wrapper = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    return [sys.executable, "-c", wrapper, *argv]


def run(quick: bool, n_targets: int | None = None) -> dict[str, Any]:
    n = n_targets or (20_000 if quick else 200_000)
    res: dict[str, Any] = {"targets": n, "count": COUNT}
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        report_path.write_bytes(encode_report(big_report(n)))
        res["report_mb"] = report_path.stat().st_size / 2**20
        res["decode_only_mb"], _ = _peak_mb(
            _measured([sys.executable, "-c", _DECODE_ONLY, str(report_path)])
        )
        store = f"sqlite:///{Path(tmp) / 'store.db'}"
        cli = [sys.executable, "-m", "cloudperf_core.cli.main", "ingest", str(report_path)]
        res["ingest_mb"], res["ingest_s"] = _peak_mb(_measured([*cli, "--store", store]))
    res["code"] = os.environ.get("PYTHONPATH", "this checkout")
    print(
        f"{n} targets x {COUNT} probes ({res['report_mb']:.0f} MB of JSON) into SQLite:\n"
        f"  decode + validate only   peak {res['decode_only_mb']:8.0f} MB\n"
        f"  cloudperf ingest         peak {res['ingest_mb']:8.0f} MB  ({res['ingest_s']:.1f} s)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest_memory.json").write_text(json.dumps(res, indent=2))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingest_memory")
    p.add_argument("--quick", action="store_true", help="20,000 targets instead of 200,000")
    p.add_argument("--targets", type=int, help="number of targets (overrides --quick)")
    args = p.parse_args(argv)
    run(args.quick, args.targets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
