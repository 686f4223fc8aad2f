"""Parser benchmark: ``parse_fping`` vs the old split-and-float loop on the same fping output.

``python -m benchmarks.bench_parser [--quick]``. Seeded ``-C N -q`` outputs (N = 5, 20 —
SmokePing's default — and 100 probes per target) and ``-c 20 -q`` outputs of 1k..200k targets
(at most 5M values per input) with losses, down targets, ``duplicate for`` lines and ICMP
error lines. Best-of-R wall time (``time.perf_counter``), the contenders interleaved on the
same text in the same process, for: the baseline, our parser, and our parser plus
``compute_stats_many`` (if the stats module is available). Writes
``benchmarks/results/parser.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._gen import fping_output
from cloudperf_core.fping.parser import parse_fping

COUNTS = (5, 20, 100)
MAX_VALUES = 5_000_000
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


def _best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function; one call of each per round, so load spikes hit all."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _stats_fn() -> Callable[[Any], object] | None:
    try:
        from cloudperf_core.stats import compute_stats_many
    except ImportError:
        return None
    return compute_stats_many


def _parse_then(stats: Callable[[Any], object], text: str) -> object:
    return stats(parse_fping(text))


def _cases(quick: bool) -> list[tuple[str, int, int]]:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 50_000, 200_000)
    cases = [("C", count, n) for count in COUNTS for n in sizes if n * count <= MAX_VALUES]
    return cases + [("c", 20, n) for n in sizes]


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark, print a table, write the JSON; returns the JSON document."""
    stats = _stats_fn()
    rows: list[dict[str, Any]] = []
    header = (
        f"{'mode':9} {'targets':>8} {'MB':>6} | {'base MB/s':>9} {'parse MB/s':>10} "
        f"{'ratio':>6} {'targets/s':>10} | {'parse+stats t/s':>15} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for mode, count, n in _cases(quick):
        text = fping_output(n, count, mode, seed=n)
        size = len(text.encode())
        size_mb = size / 1e6
        repeat = 3 if n * count >= 1_000_000 else 5 if quick else 7
        results = parse_fping(text, strict=True)
        assert len(results) == n, (len(results), n)
        fns: dict[str, Callable[[], object]] = {
            "baseline": partial(baseline_parse, text),
            "parse": partial(parse_fping, text),
        }
        if stats is not None:
            fns["parse_stats"] = partial(_parse_then, stats, text)
        best = _best(fns, repeat)
        t_base, t_parse = best["baseline"], best["parse"]
        row: dict[str, Any] = {
            "mode": f"-{mode} {count} -q",
            "count": count,
            "targets": n,
            "bytes": size,
            "repeat": repeat,
            "baseline_s": t_base,
            "parse_s": t_parse,
            "baseline_mb_s": size_mb / t_base,
            "parse_mb_s": size_mb / t_parse,
            "parse_targets_s": n / t_parse,
            "speedup": t_base / t_parse,
        }
        line = (
            f"-{mode} {count:<3} -q {n:>8} {size_mb:>6.1f} | {row['baseline_mb_s']:>9.1f} "
            f"{row['parse_mb_s']:>10.1f} {row['speedup']:>5.2f}x {n / t_parse:>10.0f} |"
        )
        if "parse_stats" in best:
            t_both = best["parse_stats"]
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
    doc = {"benchmark": "parser", "counts": list(COUNTS), "quick": quick, "rows": rows}
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
