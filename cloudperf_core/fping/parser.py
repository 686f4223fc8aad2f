"""Parse fping output (text of every 3.x-5.5 mode, and 5.5 JSON lines) into ``TargetResult``s.

Input is stdout and stderr merged (``> file 2>&1``), either stream alone, or one after the
other. Every line kind of fping-output.md is recognised; each target appears once, with all
lines about it merged (see ``_state``). Large ``-C`` outputs take a vectorised fast path
(``_fast``) that yields exactly what the per-line parser yields.

Lenient mode (the default) never raises: a line it cannot understand becomes a
``ParseWarning`` (and, from ``parse_fping``, a ``FpingParseWarning`` via ``warnings.warn``).
Strict mode raises ``FpingParseError(line_no, line)`` instead (1-based line numbers).
"""

from __future__ import annotations

import warnings
from typing import Literal, Protocol

from cloudperf_core.errors import FpingParseError, FpingParseWarning
from cloudperf_core.fping import _grammar as g
from cloudperf_core.fping._json import MalformedJson, handle_json
from cloudperf_core.fping._state import Accumulator
from cloudperf_core.gcpause import paused_gc
from cloudperf_core.models import FpingOutput, ParseWarning, TargetResult

UNRECOGNISED = "unrecognised line"
MALFORMED = "malformed value"
DIAGNOSTIC = "fping diagnostic"

#: Inputs with at least this many lines try the vectorised ``-C`` fast path (tests lower it).
FAST_MIN_LINES = 64

Listing = Literal["alive", "unreachable"]


class Lines(Protocol):
    """The input's lines by index (a list, or the fast path's slices of the text)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int, /) -> str: ...


class _Bad(Exception):
    """Internal: the current line is not understood (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def parse_fping_output(
    output: str | bytes, *, strict: bool = False, listing: Listing | None = None
) -> FpingOutput:
    """Parse one fping run into targets (fping's order), warnings and fatal lines.

    ``listing`` says what bare ``LABEL`` lines mean (``-a`` -> ``"alive"``, ``-u`` ->
    ``"unreachable"``); without it their ``alive`` stays ``None`` (``-a -e`` lines with an RTT
    are alive regardless).

    >>> out = parse_fping_output("10.0.0.1 : 0.31 - 0.29\\n")
    >>> out.targets[0].rtts_us, out.targets[0].received
    ([310, None, 290], 2)
    """
    # Parsing creates many objects and never a reference cycle; the cyclic GC would walk
    # them again and again while they are made (quadratic-looking slowdowns past 50k targets).
    with paused_gc():
        return _parse_output(output, strict, listing)


def _parse_output(output: str | bytes, strict: bool, listing: Listing | None) -> FpingOutput:
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    acc = Accumulator()
    result = FpingOutput(targets=[])
    fast = None
    if len(text) >= FAST_MIN_LINES:  # a cheap bound: a line has a character or a newline
        from cloudperf_core.fping import _fast  # numpy only when it pays off

        fast = _fast.parse_crow_text(text, FAST_MIN_LINES)
    if fast is None:
        split = text.split("\n")
        if split[-1] == "":
            split.pop()
        _parse_range(acc, split, 0, len(split), strict, listing, result)
    else:
        lines, runs = fast
        pos = 0
        for start, end, labels, results in runs:
            _parse_range(acc, lines, pos, start, strict, listing, result)
            if acc.in_usage:
                _parse_range(acc, lines, start, end, strict, listing, result)
            elif not acc.bulk_crows(labels, results):
                for label, tr in zip(labels, results, strict=True):
                    slot = acc.row(label)
                    if slot is not None:
                        acc.set_crow(slot, tr.rtts_us or [])
            pos = end
        _parse_range(acc, lines, pos, len(lines), strict, listing, result)
    result.targets = acc.finish()
    return result


def parse_fping(
    output: str | bytes, *, strict: bool = False, listing: Listing | None = None
) -> list[TargetResult]:
    """The targets of :func:`parse_fping_output`; in lenient mode each line that did not
    parse is reported with ``warnings.warn(FpingParseWarning(...))``.

    >>> [r.loss_ratio for r in parse_fping("10.0.0.1 : 0.31 - 0.29\\n")]
    [0.3333333333333333]
    """
    parsed = parse_fping_output(output, strict=strict, listing=listing)
    for w in parsed.warnings:
        if w.reason != DIAGNOSTIC:
            warnings.warn(
                FpingParseWarning(f"fping output line {w.line_no}: {w.reason}: {w.line!r}"),
                stacklevel=2,
            )
    return parsed.targets


def _parse_range(
    acc: Accumulator,
    lines: Lines,
    start: int,
    end: int,
    strict: bool,
    listing: Listing | None,
    result: FpingOutput,
) -> None:
    for i in range(start, end):
        line = lines[i]
        try:
            _parse_line(acc, line, i + 1, listing, result)
        except _Bad as bad:
            if strict:
                raise FpingParseError(i + 1, line, bad.reason) from None
            result.warnings.append(ParseWarning(i + 1, line, bad.reason))
        except MalformedJson:
            if strict:
                raise FpingParseError(i + 1, line, MALFORMED) from None
            result.warnings.append(ParseWarning(i + 1, line, MALFORMED))


def _us(token: str) -> int:
    us = g.ms_to_us(token)
    if us is None:
        raise _Bad(MALFORMED)
    return us


def _parse_line(
    acc: Accumulator, line: str, line_no: int, listing: Listing | None, out: FpingOutput
) -> None:
    if acc.in_usage:  # everything after fping's usage text is more usage text
        out.fatal.append(line)
        return
    # The str tests first: they are exact preconditions of the regexes, and much cheaper.
    m = g.FRAGMENTS.match(line) if line.startswith(" [<- ") else None
    if m is not None:
        line = line[m.end() :]  # reply from another source: nothing to record (§2.9)
    if not line.strip():
        return
    if line[0] == "{":
        handle_json(acc, line)
        return
    m = g.TS_PREFIX.match(line) if line[0] == "[" else None
    body = line[m.end() :] if m is not None else line
    split = g.split_label(body)
    if split is not None and _labelled(acc, split[0], split[1], stamped=m is not None):
        return
    if m is not None:
        raise _Bad(UNRECOGNISED)  # -D prefixes only appear on reply and timeout lines
    _unlabelled(acc, line, line_no, listing, out)


def _labelled(acc: Accumulator, label: str, rest: str, *, stamped: bool) -> bool:
    if not stamped:
        if g.CROW.match(rest):
            values = [None if tok == "-" else _us(tok) for tok in rest.split()]
            tr = acc.row(label)
            if tr is not None:
                acc.set_crow(tr, values)
            return True
        m = g.SUMMARY.match(rest)
        if m is not None:
            xmt, rcv = int(m[2]), int(m[3])
            rtt = (_us(m[4]), _us(m[5]), _us(m[6])) if m[4] is not None else None
            tr = acc.row(label)
            if tr is not None:
                acc.set_summary(tr, xmt, rcv, rtt)
            return True
        dup_rest = g.TRAILING_FRAGMENTS.sub("", rest) if " [<- " in rest else rest
        if g.DUPLICATE.match(dup_rest):
            acc.first(label).duplicates += 1
            return True
    m = g.REPLY.match(rest)
    if m is not None:
        acc.probe(label, int(m[1]), _us(m[3]))
        return True
    m = g.TIMEOUT.match(rest)
    if m is not None:
        acc.probe(label, int(m[1]), None)
        return True
    return False


def _unlabelled(
    acc: Accumulator, line: str, line_no: int, listing: Listing | None, out: FpingOutput
) -> None:
    if line[0] == "[" and g.INTERVAL_HEADER.match(line):
        acc.header()
        return
    m = g.ICMP_ERROR.match(line)
    if m is not None:
        label = m["label"]
        tail = f" ({m['src']})"
        if label.endswith(tail):  # 3.x appends the ICMP sender to named targets
            label = label[: -len(tail)]
        acc.first(label).errors.append(m["msg"])
        return
    m = g.SEND_ERROR.match(line)
    if m is not None:
        acc.first(m["label"]).errors.append(m["msg"])
        return
    if g.VERDICT.match(line) or g.STATS_BLOCK.match(line) or g.NETDATA.match(line):
        return
    if g.FATAL.match(line):
        out.fatal.append(line)
        if line.startswith("Usage: "):
            acc.in_usage = True
        return
    if g.DIAGNOSTIC.match(line):
        out.warnings.append(ParseWarning(line_no, line, DIAGNOSTIC))
        return
    m = g.ALIVE.match(line)
    if m is not None:
        acc.anchor("verdict", m["label"]).alive = m["verdict"] == "alive"
        return
    m = g.NAME_ERROR.match(line) or g.OLD_NAME_ERROR.match(line)
    if m is not None:
        acc.anchor("name", m["label"]).errors.append(m["msg"])
        return
    m = g.LISTED.match(line)
    if m is not None:
        tr = acc.anchor("verdict", m["label"])
        if m["rtt"] is not None:
            _us(m["rtt"])  # validate: -a -e prints the RTT of an alive target
            tr.alive = True
        elif listing is not None:
            tr.alive = listing == "alive"
        return
    raise _Bad(UNRECOGNISED)
