"""Parser benchmark: ``parse_fping`` vs the old split-and-float loop on the same fping output.

``python -m benchmarks.bench_parser [--quick]``. Seeded ``-C N -q`` and ``-c N -q`` outputs
(N = 20, SmokePing's default) of 1k..200k targets with losses, down targets, ``duplicate for``
lines and ICMP error lines. Best-of-R wall time (``time.perf_counter``) for: the baseline, our
parser, and our parser plus ``compute_stats_many`` (if the stats module is available).
Writes ``benchmarks/results/parser.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._gen import fping_output
from cloudperf_core.fping.parser import parse_fping

COUNT = 20
RESULTS = Path(__file__).resolve().parent / "results" / "parser.json"


def baseline_parse(text: str) -> list[tuple[str, list[float | None]]]:
    """The old system's approach: split every line, float() every value token."""
    out: list[tuple[str, list[float | None]]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        values: list[float | None] = []
        for token in parts[2:]:
            try:
                values.append(float(token))
            except ValueError:
                values.append(None)
        out.append((parts[0], values))
    return out


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _stats_fn() -> Callable[[Any], object] | None:
    try:
        from cloudperf_core.stats import compute_stats_many
    except ImportError:
        return None
    return compute_stats_many


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark, print a table, write the JSON; returns the JSON document."""
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 50_000, 200_000)
    stats = _stats_fn()
    rows: list[dict[str, Any]] = []
    header = (
        f"{'mode':4} {'targets':>8} {'MB':>6} | {'base MB/s':>9} {'parse MB/s':>10} "
        f"{'ratio':>6} {'targets/s':>10} | {'parse+stats t/s':>15} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for mode in ("C", "c"):
        for n in sizes:
            text = fping_output(n, COUNT, mode, seed=n)
            size_mb = len(text.encode()) / 1e6
            repeat = 3 if n >= 50_000 or quick else 5
            results = parse_fping(text, strict=True)
            assert len(results) == n, (len(results), n)
            t_base = _best(lambda text=text: baseline_parse(text), repeat)
            t_parse = _best(lambda text=text: parse_fping(text), repeat)
            row: dict[str, Any] = {
                "mode": f"-{mode} {COUNT} -q",
                "targets": n,
                "bytes": len(text.encode()),
                "baseline_s": t_base,
                "parse_s": t_parse,
                "baseline_mb_s": size_mb / t_base,
                "parse_mb_s": size_mb / t_parse,
                "parse_targets_s": n / t_parse,
                "speedup": t_base / t_parse,
            }
            line = (
                f"-{mode:3} {n:>8} {size_mb:>6.1f} | {row['baseline_mb_s']:>9.1f} "
                f"{row['parse_mb_s']:>10.1f} {row['speedup']:>5.2f}x {n / t_parse:>10.0f} |"
            )
            if stats is not None:
                t_both = _best(lambda text=text: stats(parse_fping(text)), repeat)
                row.update(
                    parse_stats_s=t_both,
                    parse_stats_targets_s=n / t_both,
                    parse_stats_speedup=t_base / t_both,
                )
                line += f" {n / t_both:>15.0f} {t_base / t_both:>5.2f}x"
            else:
                line += f" {'(no stats)':>15}"
            print(line, flush=True)
            rows.append(row)
    doc = {"benchmark": "parser", "count": COUNT, "quick": quick, "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_parser")
    p.add_argument("--quick", action="store_true", help="1k and 10k targets only")
    run(p.parse_args(argv).quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
