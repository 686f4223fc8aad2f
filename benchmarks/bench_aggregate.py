"""CPU cost of the ingest path: old (v1, one row and one pairwise merge at a time) vs new.

Synthetic reports as the ingest benchmark sends them, but all from ONE source to the SAME 100
targets in the same 60 s window (10 probes per target, some lost), so every report merges
into the same 100 rows. Measured in one run, old and new side by side, no database:

- ``windows``: rows of one report (``windows_for_report``), µs per target;
- ``windows_batch``: rows of N reports at once (new ``windows_for_reports``; old = a loop);
- ``merge_same_key``: 1000 rows of one key merged: old pairwise chain, the new pairwise chain
  (what a store doing ``merge_windows`` per row gets), and new ``merge_many``;
- ``merge_into``: the rows of N reports x 100 targets merged into a dict by key;
- ``cpu_path``: windows + merge_into together, in reports per second;
- ``combine``: a store's merge step -- K keys, each a stored row plus R-1 new rows (11 probes
  each) -- one ``combine`` per key (old) vs one ``combine_all`` for the batch (new), for the
  shapes ingest sees at batch 10 (400 keys x 4 rows) and batch 1000 (16,800 keys x 6 rows).

The old column runs a frozen copy of the modules (``benchmarks/_v1_*.py``).

    python -m benchmarks.bench_aggregate [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import _v1_aggregate as old
from cloudperf_core import aggregate as new
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult, WindowAggregate

RESULTS = Path(__file__).resolve().parent / "results"
N_TARGETS = 100
COUNT = 10
T0_MS = 1_700_000_040_000  # a window start: every report below falls in one window


def make_reports(n: int) -> list[MeasurementReport]:
    """``n`` reports from one source to the same 100 targets, all in one 60 s window."""
    targets = tuple(f"198.18.{t // 250}.{t % 250 + 1}" for t in range(N_TARGETS))
    out = []
    for i in range(n):
        results = []
        for t, target in enumerate(targets):
            rtts: list[int | None] = [
                None if (i + t + k) % 17 == 0 else 5_000 + 37 * ((i * 7 + t * 13 + k * 3) % 400)
                for k in range(COUNT)
            ]
            received = sum(v is not None for v in rtts)
            results.append(TargetResult(target=target, sent=COUNT, received=received, rtts_us=rtts))
        out.append(
            MeasurementReport(
                report_id=f"r-{i:06d}",
                source="probe-0",
                started_at_ms=T0_MS + (i % 50) * 1000,
                spec=ProbeSpec(targets=targets, count=COUNT),
                results=results,
            )
        )
    return out


def best_s(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _chain(
    merge: Callable[[WindowAggregate, WindowAggregate], WindowAggregate],
    rows: list[WindowAggregate],
) -> WindowAggregate:
    current = rows[0]
    for row in rows[1:]:
        current = merge(current, row)
    return current


def combine_case(n_keys: int, rows_per_key: int) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(pending, stored) for ``n_keys`` keys: one stored row and ``rows_per_key - 1`` new ones."""
    targets = tuple(f"198.18.{t // 250}.{t % 250 + 1}" for t in range(n_keys))
    reports = [
        MeasurementReport(
            report_id=f"c-{i}",
            source="probe-0",
            started_at_ms=T0_MS + i * 1000,
            spec=ProbeSpec(targets=targets, count=11),
            results=[
                TargetResult(
                    target=target,
                    rtts_us=[
                        None if (i + t + k) % 23 == 0 else 5_000 + 41 * ((i * 7 + t * 13 + k) % 90)
                        for k in range(11)
                    ],
                )
                for t, target in enumerate(targets)
            ],
        )
        for i in range(rows_per_key)
    ]
    pending: dict[Any, list[WindowAggregate]] = {}
    for rw in new.windows_for_reports(reports, 60):
        for row in rw.windows:
            pending.setdefault(new.window_key(row), []).append(row)
    stored = {key: rows.pop(0) for key, rows in pending.items()}
    return pending, stored


def _time_combine(pending: dict[Any, Any], stored: dict[Any, Any], repeat: int) -> dict[str, float]:
    def per_key() -> object:
        return {k: new.combine(stored.get(k), rows) for k, rows in pending.items()}

    return {
        "old": best_s(per_key, repeat) * 1e3,
        "new": best_s(lambda: new.combine_all(pending, stored), repeat) * 1e3,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure, print a table, write ``benchmarks/results/aggregate.json``."""
    n_reports = 200 if quick else 1000
    n_merge = 200 if quick else 1000
    repeat = 2 if quick else 3
    reports = make_reports(max(n_reports, n_merge))[:n_reports]
    one = reports[0]
    targets = n_reports * N_TARGETS
    res: dict[str, Any] = {"reports": n_reports, "targets_per_report": N_TARGETS, "count": COUNT}

    loops = 20 if quick else 100
    res["windows_us_per_target"] = {
        "old": best_s(lambda: [old.windows_for_report(one, 60) for _ in range(loops)], repeat)
        / loops
        / N_TARGETS
        * 1e6,
        "new": best_s(lambda: [new.windows_for_report(one, 60) for _ in range(loops)], repeat)
        / loops
        / N_TARGETS
        * 1e6,
    }
    res["windows_batch_us_per_target"] = {
        "old": best_s(lambda: [old.windows_for_report(r, 60) for r in reports], repeat)
        / targets
        * 1e6,
        "new": best_s(lambda: new.windows_for_reports(reports, 60), repeat) / targets * 1e6,
    }

    merge_reports = make_reports(n_merge)
    old_rows = [old.windows_for_report(r, 60).windows[0] for r in merge_reports]
    new_rows = [w.windows[0] for w in new.windows_for_reports(merge_reports, 60)]
    res["merge_same_key_ms"] = {
        "rows": n_merge,
        "old": best_s(lambda: _chain(old.merge_windows, old_rows), 1) * 1e3,
        "new_pairwise": best_s(lambda: _chain(new.merge_windows, new_rows), repeat) * 1e3,
        "new_merge_many": best_s(lambda: new.merge_many(new_rows), repeat) * 1e3,
    }

    old_batch = [w for r in reports for w in old.windows_for_report(r, 60).windows]
    new_batch = [w for rw in new.windows_for_reports(reports, 60) for w in rw.windows]
    res["merge_into_ms"] = {
        "rows": len(new_batch),
        "old": best_s(lambda: old.merge_into({}, old_batch), 1) * 1e3,
        "new": best_s(lambda: new.merge_into({}, new_batch), repeat) * 1e3,
    }

    def old_path() -> None:
        old.merge_into({}, [w for r in reports for w in old.windows_for_report(r, 60).windows])

    def new_path() -> None:
        new.merge_into({}, [w for rw in new.windows_for_reports(reports, 60) for w in rw.windows])

    old_s, new_s = best_s(old_path, 1), best_s(new_path, repeat)
    res["cpu_path_reports_per_s"] = {
        "old": n_reports / old_s,
        "new": n_reports / new_s,
        "speedup": old_s / new_s,
    }
    res["combine_ms"] = {
        f"{n_keys}x{per_key}": _time_combine(*combine_case(n_keys, per_key), repeat)
        for n_keys, per_key in ((400, 4), (16_800, 6))
    }
    _print(res)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aggregate.json").write_text(json.dumps(res, indent=2))
    return res


def _print(res: dict[str, Any]) -> None:
    print(f"{res['reports']} reports x {res['targets_per_report']} targets x {res['count']} probes")
    print(f"{'measure':<34}{'old':>12}{'new':>12}{'new/old':>10}")
    rows = [
        ("windows_for_report, µs/target", res["windows_us_per_target"]),
        ("windows, batch, µs/target", res["windows_batch_us_per_target"]),
        (
            f"merge {res['merge_same_key_ms']['rows']} rows pairwise, ms",
            {
                "old": res["merge_same_key_ms"]["old"],
                "new": res["merge_same_key_ms"]["new_pairwise"],
            },
        ),
        (
            f"merge {res['merge_same_key_ms']['rows']} rows merge_many, ms",
            {
                "old": res["merge_same_key_ms"]["old"],
                "new": res["merge_same_key_ms"]["new_merge_many"],
            },
        ),
        (f"merge_into {res['merge_into_ms']['rows']} rows, ms", res["merge_into_ms"]),
        ("CPU path, reports/s", res["cpu_path_reports_per_s"]),
        *((f"combine {shape} keys x rows, ms", pair) for shape, pair in res["combine_ms"].items()),
    ]
    for name, pair in rows:
        ratio = pair["new"] / pair["old"]
        print(f"{name:<34}{pair['old']:>12.2f}{pair['new']:>12.2f}{ratio:>10.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_aggregate")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    run(p.parse_args(argv).quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
