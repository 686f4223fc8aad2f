"""Human- and machine-facing views of results: JSON objects (ms) and text tables.

The JSON field names are part of the CLI contract and shared by ``measure``, ``parse`` and
``report``: target, sent, received, duplicates, loss_ratio, rtts_ms, min_ms, avg_ms, max_ms,
stddev_ms, jitter_ms, p50_ms, p70_ms, p90_ms, p95_ms, p99_ms, errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudperf_core.models import GroupStats, LatencyStats, TargetResult

_STAT_FIELDS = (
    ("min_ms", "min_us"),
    ("avg_ms", "mean_us"),
    ("max_ms", "max_us"),
    ("stddev_ms", "stddev_us"),
    ("jitter_ms", "jitter_us"),
    ("p50_ms", "p50_us"),
    ("p70_ms", "p70_us"),
    ("p90_ms", "p90_us"),
    ("p95_ms", "p95_us"),
    ("p99_ms", "p99_us"),
)


def us_to_ms(value_us: float | None) -> float | None:
    """Microseconds to milliseconds, kept to microsecond precision."""
    return None if value_us is None else round(value_us / 1000.0, 3)


def _loss(stats: LatencyStats) -> float | None:
    return None if stats.loss_ratio is None else round(stats.loss_ratio, 6)


def result_json(result: TargetResult, stats: LatencyStats) -> dict[str, Any]:
    """One target of ``measure``/``parse --json``."""
    out: dict[str, Any] = {
        "target": result.target,
        "sent": result.sent,
        "received": result.received,
        "duplicates": result.duplicates,
        "loss_ratio": _loss(stats) if result.sent else None,
        "rtts_ms": None
        if result.rtts_us is None
        else [None if v is None else v / 1000.0 for v in result.rtts_us],
    }
    for name, attr in _STAT_FIELDS:
        out[name] = us_to_ms(getattr(stats, attr))
    out["errors"] = list(result.errors)
    return out


def group_json(group: GroupStats) -> dict[str, Any]:
    """One group of ``report --json`` (merged from the store; no per-probe list)."""
    s = group.stats
    out: dict[str, Any] = {"source": group.source, "target": group.dest}
    out.update(
        {
            "sent": s.sent,
            "received": s.received,
            "duplicates": s.duplicates,
            "loss_ratio": _loss(s),
        }
    )
    for name, attr in _STAT_FIELDS:
        out[name] = us_to_ms(getattr(s, attr))
    out["windows"] = group.windows
    return out


TABLE_COLUMNS = (
    ("target", "target"),
    ("sent", "sent"),
    ("recv", "received"),
    ("loss%", "loss_ratio"),
    ("min", "min_ms"),
    ("p50", "p50_ms"),
    ("p90", "p90_ms"),
    ("p95", "p95_ms"),
    ("max", "max_ms"),
    ("stddev", "stddev_ms"),
    ("jitter", "jitter_ms"),
    ("dup", "duplicates"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "loss_ratio":
        return f"{value * 100:.1f}"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"
    return str(value)


def render_table(rows: Sequence[dict[str, Any]], *, first_column: str = "target") -> str:
    """A plain aligned text table, RTT columns in ms; ``-`` where a value is unknown."""
    columns = [(title, key) for title, key in TABLE_COLUMNS]
    if first_column != "target":
        columns.insert(0, (first_column, first_column))
    header = [title for title, _ in columns]
    body = [[_cell(key, row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    text = [line(header)] + [line(r) for r in body]
    errors = [f"  {row['target']}: {e}" for row in rows for e in row.get("errors") or []]
    if errors:
        text.append("errors:")
        text.extend(errors)
    return "\n".join(text)
