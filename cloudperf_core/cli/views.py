"""Human- and machine-facing views of results: JSON objects (ms) and text tables.

The JSON field names are part of the CLI contract and shared by ``measure``, ``parse`` and
``report``: target, sent, received, duplicates, loss_ratio, rtts_ms, min_ms, avg_ms, max_ms,
stddev_ms, jitter_ms, p50_ms, p70_ms, p90_ms, p95_ms, p99_ms, errors.

Both writers stream: rows arrive in blocks and are written as they come, so printing a
million targets needs no more memory than one block. JSON stays one valid array. Tables fit
their column widths to the first block (all rows, for ``measure`` and ``report``) and widen a
column, never narrow it, when a later block needs more. Every string a human sees passes
:func:`safe_text`: a name cannot move the cursor, retitle the terminal or forge a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

import msgspec

from cloudperf_core.models import GroupStats, LatencyStats, TargetResult


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(text: str) -> str:
    """``text`` with every non-printable character (control, format, line separators)
    written as a visible escape, so it shows as one inert line on a terminal.

    >>> safe_text("a\\x1b]0;owned\\x07\\nb")
    'a\\\\x1b]0;owned\\\\x07\\\\x0ab'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


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


class JsonArrayWriter:
    """Writes rows as one JSON array (two-space indent), block by block."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._rows = 0

    def write(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        # "[\n  {...},\n  {...}\n]" -> the items between the brackets.
        body = msgspec.json.format(msgspec.json.encode(rows), indent=2)[2:-2]
        self._out.write(("[\n" if self._rows == 0 else ",\n") + body.decode())
        self._rows += len(rows)

    def close(self) -> None:
        self._out.write("\n]\n" if self._rows else "[]\n")


class TableWriter:
    """A plain aligned text table, RTT columns in ms, ``-`` where a value is unknown; the
    errors of all rows follow it."""

    def __init__(self, out: TextIO, *, first_column: str = "target") -> None:
        self._out = out
        self._columns = list(TABLE_COLUMNS)
        if first_column != "target":
            self._columns.insert(0, (first_column, first_column))
        self._widths = [len(title) for title, _ in self._columns]
        self._header = False
        self._errors: list[str] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        cells = [[safe_text(_cell(key, row.get(key))) for _, key in self._columns] for row in rows]
        for body in cells:
            self._widths = [max(w, len(c)) for w, c in zip(self._widths, body, strict=True)]
        if not self._header:
            self._header = True
            cells.insert(0, [title for title, _ in self._columns])
        self._out.write("".join(self._line(body) + "\n" for body in cells))
        self._errors += [
            f"  {safe_text(str(row['target']))}: {safe_text(str(error))}"
            for row in rows
            for error in row.get("errors") or ()
        ]

    def close(self) -> None:
        if not self._header:
            self.write([])
        if self._errors:
            self._out.write("errors:\n" + "".join(e + "\n" for e in self._errors))

    def _line(self, cells: list[str]) -> str:
        widths = self._widths
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()


def render_table(rows: Sequence[dict[str, Any]], *, first_column: str = "target") -> str:
    """The whole table of :class:`TableWriter` as one string (no trailing newline)."""
    import io

    buffer = io.StringIO()
    writer = TableWriter(buffer, first_column=first_column)
    writer.write(rows)
    writer.close()
    return buffer.getvalue().rstrip("\n")
