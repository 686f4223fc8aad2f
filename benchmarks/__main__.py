"""Run every benchmark: ``python -m benchmarks [--quick] [--only parser,runner,ingest]``.

Each module's ``run(quick)`` prints its own table and writes ``benchmarks/results/NAME.json``;
this runner writes a combined ``benchmarks/results/all.json`` as well.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = (
    "parser", "aggregate", "runner", "ingest", "ingest_memory", "console", "worker", "exports",
    "lambda", "matrix", "api",
)  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    p.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    args = p.parse_args(argv)
    combined: dict[str, object] = {}
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        if name not in BENCHMARKS:
            p.error(f"unknown benchmark {name!r} (choose from {', '.join(BENCHMARKS)})")
        print(f"\n=== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        combined[name] = module.run(args.quick)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "all.json").write_text(json.dumps(combined, indent=2, default=str))
    print(f"\nresults written to {RESULTS}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
