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
from cloudperf_core.fping._state import Accumulator, LateLine
from cloudperf_core.gcpause import paused_gc
from cloudperf_core.limits import MAX_RTT_US
from cloudperf_core.models import FpingOutput, ParseWarning, TargetResult

UNRECOGNISED = "unrecognised line"
MALFORMED = "malformed value"
DIAGNOSTIC = "fping diagnostic"
IMPOSSIBLE = "impossible RTT (negative, above the longest timeout, or not finite) counted as lost"
LATE = "about a target already printed (streaming merges lines about a target within a block)"

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
    are alive regardless). An impossible RTT (negative, above ``limits.MAX_RTT_US``, or not
    finite) counts as a lost probe, with a warning naming the line; in strict mode it raises.

    >>> out = parse_fping_output("10.0.0.1 : 0.31 - 0.29\\n")
    >>> out.targets[0].rtts_us, out.targets[0].received
    ([310, None, 290], 2)
    """
    parse = FpingStreamParser(strict=strict, listing=listing)
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    parse.feed(text, final=True)
    result = FpingOutput(targets=parse.close(), warnings=parse.warnings, fatal=parse.fatal)
    return result


class FpingStreamParser:
    """Parse fping output given in blocks of whole lines, handing out targets as they complete.

    ``feed(block)`` returns the targets completed so far (fping's order); ``close()`` the rest.
    ``warnings`` and ``fatal`` collect as in :func:`parse_fping_output` (line numbers count from
    the first block); a caller may empty them between blocks. One block gives exactly what
    :func:`parse_fping_output` gives; with several, lines about one target are merged when they
    are in the same block or come before its final line, which is how fping prints them (a line
    naming a target after it was handed out becomes a warning, see ``_state``).

    >>> p = FpingStreamParser()
    >>> [r.target for r in p.feed("a : 0.1\\nb : 0.2\\n")], [r.target for r in p.close()]
    (['a', 'b'], [])
    """

    def __init__(self, *, strict: bool = False, listing: Listing | None = None) -> None:
        self._strict = strict
        self._listing = listing
        self._acc = Accumulator()
        self._lines_before = 0
        self._closed = False
        self.warnings: list[ParseWarning] = []
        self.fatal: list[str] = []

    def feed(self, text: str, *, final: bool = False) -> list[TargetResult]:
        """Parse ``text`` (whole lines; only the last block may lack its final newline)."""
        # Parsing creates many objects and never a reference cycle; the cyclic GC would walk
        # them again and again while they are made (quadratic-looking slowdowns past 50k
        # targets). Paused per block, never across a yield to the caller.
        with paused_gc():
            self._parse_block(text)
            return [] if final else self._acc.take_done()

    def close(self) -> list[TargetResult]:
        """The remaining targets (also those only ever named by per-probe or error lines)."""
        if self._closed:
            return []
        self._closed = True
        with paused_gc():
            return self._acc.finish()

    def _parse_block(self, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        acc, base = self._acc, self._lines_before
        lines: Lines
        fast = None
        if len(text) >= FAST_MIN_LINES:  # a cheap bound: a line has a character or a newline
            from cloudperf_core.fping import _fast  # numpy only when it pays off

            fast = _fast.parse_crow_text(text, FAST_MIN_LINES)
        if fast is None:
            split = text.split("\n")
            if split[-1] == "":
                split.pop()
            lines = split
            self._parse_range(lines, 0, len(lines), base)
        else:
            lines, runs = fast
            pos = 0
            for start, end, labels, results in runs:
                self._parse_range(lines, pos, start, base)
                if acc.in_usage:
                    self._parse_range(lines, start, end, base)
                elif not acc.bulk_crows(labels, results):
                    for i, (label, row) in enumerate(zip(labels, results, strict=True)):
                        try:
                            slot = acc.row(label)
                        except LateLine:
                            self._warn(base + start + i + 1, lines[start + i], LATE)
                            continue
                        if slot is not None:
                            acc.apply_row(slot, row)
                pos = end
            self._parse_range(lines, pos, len(lines), base)
        self._lines_before = base + len(lines)
        acc.pad_budget += 64 * len(lines)

    def _warn(self, line_no: int, line: str, reason: str) -> None:
        if self._strict:
            raise FpingParseError(line_no, line, reason) from None
        self.warnings.append(ParseWarning(line_no, line, reason))

    def _parse_range(self, lines: Lines, start: int, end: int, base: int) -> None:
        acc, listing, warnings = self._acc, self._listing, self.warnings
        notes: list[str] = []  # impossible RTTs of the current line
        for i in range(start, end):
            line = lines[i]
            try:
                _parse_line(acc, line, base + i + 1, listing, self, notes)
            except _Bad as bad:
                self._warn(base + i + 1, line, bad.reason)
            except MalformedJson:
                self._warn(base + i + 1, line, MALFORMED)
            except LateLine:
                self._warn(base + i + 1, line, LATE)
            if notes:
                notes.clear()
                if self._strict:
                    raise FpingParseError(base + i + 1, line, IMPOSSIBLE)
                warnings.append(ParseWarning(base + i + 1, line, IMPOSSIBLE))


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


def _count(token: str) -> int:
    """A count fping printed; beyond a signed 64-bit integer it cannot be true."""
    if len(token) > 19 or int(token) > g.INT64_MAX:
        raise _Bad(MALFORMED)
    return int(token)


def _rtt(token: str, notes: list[str]) -> int | None:
    """A reply's RTT in µs, or ``None`` (lost) with a note when it cannot be true."""
    us = g.ms_to_us(token)
    if us is None or us < 0 or us > MAX_RTT_US:
        notes.append(token)
        return None
    return us


def _parse_line(
    acc: Accumulator,
    line: str,
    line_no: int,
    listing: Listing | None,
    out: FpingStreamParser,
    notes: list[str],
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
        handle_json(acc, line, notes)
        return
    m = g.TS_PREFIX.match(line) if line[0] == "[" else None
    body = line[m.end() :] if m is not None else line
    split = g.split_label(body)
    if split is not None and _labelled(acc, split[0], split[1], notes, stamped=m is not None):
        return
    if m is not None:
        raise _Bad(UNRECOGNISED)  # -D prefixes only appear on reply and timeout lines
    _unlabelled(acc, line, line_no, listing, out, notes)


def _labelled(acc: Accumulator, label: str, rest: str, notes: list[str], *, stamped: bool) -> bool:
    if not stamped:
        if g.CROW.match(rest):
            values = [None if tok == "-" else _rtt(tok, notes) for tok in rest.split()]
            tr = acc.row(label)
            if tr is not None:
                acc.set_crow(tr, values)
            return True
        m = g.SUMMARY.match(rest)
        if m is not None:
            xmt, rcv = _count(m[2]), _count(m[3])
            rtt = None
            if m[4] is not None:
                low, avg, high = _rtt(m[4], notes), _rtt(m[5], notes), _rtt(m[6], notes)
                if low is not None and avg is not None and high is not None:
                    rtt = (low, avg, high)  # else no RTT figures: only the counts are true
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
        acc.probe(label, _count(m[1]), _rtt(m[3], notes))
        return True
    m = g.TIMEOUT.match(rest)
    if m is not None:
        acc.probe(label, _count(m[1]), None)
        return True
    return False


def _unlabelled(
    acc: Accumulator,
    line: str,
    line_no: int,
    listing: Listing | None,
    out: FpingStreamParser,
    notes: list[str],
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
            _rtt(m["rtt"], notes)  # validate: -a -e prints the RTT of an alive target
            tr.alive = True
        elif listing is not None:
            tr.alive = listing == "alive"
        return
    raise _Bad(UNRECOGNISED)
