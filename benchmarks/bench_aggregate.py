"""CPU cost of the ingest path: the straightforward reference code vs the batched fast path.

Synthetic reports as the ingest benchmark sends them, but all from ONE source to the SAME 100
targets in the same 60 s window (10 probes per target, some lost), so every report merges
into the same 100 rows. Both columns run in the same process on the same data, no database:

- rows: one row per result by the exact per-result code vs ``windows_for_reports``;
- merging 1000 rows of one key: a pairwise ``merge_windows`` chain vs ``merge_many``;
- ``merge_into``: the rows of N reports merged by key, pairwise vs grouped;
- the whole CPU path (rows + merge) in reports per second;
- a store's merge step -- K keys, each a stored row plus new rows -- one ``combine`` per key
  vs one ``combine_all``, for the shapes ingest sees at batch 10 (400 keys x 4 rows) and
  batch 1000 (16,800 keys x 6 rows).

    python -m benchmarks.bench_aggregate [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._gen import synthetic_reports
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult, WindowAggregate
from cloudperf_core.windows import aggregate as agg

RESULTS = Path(__file__).resolve().parent / "results"
N_TARGETS = 100
COUNT = 10
T0_MS = 1_700_000_040_000  # a window start: every report below falls in one window


def make_reports(n: int) -> list[MeasurementReport]:
    """``n`` reports from one source to the same 100 targets, all in one 60 s window."""
    return synthetic_reports(
        n, count=COUNT, targets=N_TARGETS, start_ms=T0_MS, start_of=lambda i: (i % 50) * 1000
    )


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
    for rw in agg.windows_for_reports(reports, 60):
        for row in rw.windows:
            pending.setdefault(agg.window_key(row), []).append(row)
    stored = {key: rows.pop(0) for key, rows in pending.items()}
    return pending, stored


def _time_combine(pending: dict[Any, Any], stored: dict[Any, Any], repeat: int) -> dict[str, float]:
    def per_key() -> object:
        return {k: agg.combine(stored.get(k), rows) for k, rows in pending.items()}

    return {
        "reference": best_s(per_key, repeat) * 1e3,
        "fast": best_s(lambda: agg.combine_all(pending, stored), repeat) * 1e3,
    }


def _rows_one_by_one(reports: list[MeasurementReport]) -> list[WindowAggregate]:
    """The reference path: one row per result, built by the exact per-result code."""
    return [
        agg._result_window(r.source, res, agg.window_start(r.started_at_ms, 60), 60)
        for r in reports
        for res in r.results
    ]


def _merge_one_by_one(rows: list[WindowAggregate]) -> dict[Any, WindowAggregate]:
    """The reference merge: every row into the dict with a pairwise ``merge_windows``."""
    out: dict[Any, WindowAggregate] = {}
    for row in rows:
        key = agg.window_key(row)
        current = out.get(key)
        out[key] = row if current is None else agg.merge_windows(current, row)
    return out


def run(quick: bool) -> dict[str, Any]:
    """Measure, print a table, write ``benchmarks/results/aggregate.json``."""
    n_reports = 200 if quick else 1000
    repeat = 2 if quick else 3
    reports = make_reports(n_reports)
    targets = n_reports * N_TARGETS
    res: dict[str, Any] = {"reports": n_reports, "targets_per_report": N_TARGETS, "count": COUNT}

    res["windows_us_per_target"] = {
        "reference": best_s(lambda: _rows_one_by_one(reports), repeat) / targets * 1e6,
        "fast": best_s(lambda: agg.windows_for_reports(reports, 60), repeat) / targets * 1e6,
    }
    same_key = [rw.windows[0] for rw in agg.windows_for_reports(reports, 60)]
    res["merge_same_key_ms"] = {
        "rows": len(same_key),
        "reference": best_s(lambda: _chain(agg.merge_windows, same_key), 1) * 1e3,
        "fast": best_s(lambda: agg.merge_many(same_key), repeat) * 1e3,
    }
    batch = [w for rw in agg.windows_for_reports(reports, 60) for w in rw.windows]
    res["merge_into_ms"] = {
        "rows": len(batch),
        "reference": best_s(lambda: _merge_one_by_one(batch), 1) * 1e3,
        "fast": best_s(lambda: agg.merge_into({}, batch), repeat) * 1e3,
    }
    ref_s = best_s(lambda: _merge_one_by_one(_rows_one_by_one(reports)), 1)
    fast_s = best_s(
        lambda: agg.merge_into(
            {}, [w for rw in agg.windows_for_reports(reports, 60) for w in rw.windows]
        ),
        repeat,
    )
    res["cpu_path_reports_per_s"] = {"reference": n_reports / ref_s, "fast": n_reports / fast_s}
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
    print(f"{'measure':<38}{'reference':>12}{'fast':>12}{'speedup':>10}")
    rows = [
        ("rows, µs/target", res["windows_us_per_target"], False),
        (
            f"merge {res['merge_same_key_ms']['rows']} rows of one key, ms",
            res["merge_same_key_ms"],
            False,
        ),
        (f"merge_into {res['merge_into_ms']['rows']} rows, ms", res["merge_into_ms"], False),
        ("CPU path (rows + merge), reports/s", res["cpu_path_reports_per_s"], True),
        *(
            (f"store merge {shape} keys x rows, ms", pair, False)
            for shape, pair in res["combine_ms"].items()
        ),
    ]
    for name, pair, higher_is_better in rows:
        ratio = (
            pair["fast"] / pair["reference"]
            if higher_is_better
            else pair["reference"] / pair["fast"]
        )
        print(f"{name:<38}{pair['reference']:>12.2f}{pair['fast']:>12.2f}{ratio:>9.1f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_aggregate")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    run(p.parse_args(argv).quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
