"""Fast path for ``-c`` summary lines (``LABEL : xmt/rcv/%loss = 20/19/5%, min/avg/max = ...``).

One regular expression over a chunk of whole lines matches every line, capturing the fields of
those in fping's usual summary form; the distinct RTT tokens are converted once each (fping
prints few distinct values). A line that is not exactly that form — ``%return``, an outage
figure, an exponent, a label with a non-ASCII character or starting with ``[`` or ``{``, an
impossible RTT — is left to the per-line parser, so every result is what it would give.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from cloudperf_core.fping import _grammar as g
from cloudperf_core.limits import MAX_RTT_US
from cloudperf_core.models import TargetResult

#: A chunk holding this has summary lines worth the regex.
MARKER = b" : xmt/rcv/%loss = "

_V = rb"(\d+(?:\.\d+)?)"
# Every line matches (the second branch catches the rest with empty groups): findall gives one
# tuple per line, in order, so the tuple index is the line index.
_LINE = re.compile(
    rb"^(?:([!-Z\\\]-z|}~][!-~]*) +: xmt/rcv/%loss = (\d{1,18})/(\d{1,18})/\d+%"
    rb"(?:, min/avg/max = " + _V + b"/" + _V + b"/" + _V + rb")?$|.*$)",
    re.MULTILINE,
)


def _convert(token: bytes, cache: dict[bytes, int | None]) -> int | None:
    us = g.ms_to_us(token.decode("ascii"))
    if us is not None and not 0 <= us <= MAX_RTT_US:
        us = None
    cache[token] = us
    return us


def summary_chunk(
    buf: bytes, raw: npt.NDArray[np.uint8], lo: int, hi: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], list[str], list[TargetResult]]:
    """The lines in ``buf[lo : hi + 1]`` (``hi``: a newline): (newline positions, indices of
    the summary lines among them, their labels, their results)."""
    nl_pos = np.flatnonzero(raw[lo : hi + 1] == 10)
    rows = _LINE.findall(buf[lo : hi + 1])
    cache: dict[bytes, int | None] = {}
    ok: list[int] = []
    labels: list[bytes] = []
    fields: list[tuple[int, int, int, int | None, int | None, int | None]] = []
    for i, (label, xmt_b, rcv_b, low_b, avg_b, high_b) in enumerate(rows):
        if not label:
            continue
        xmt, rcv = int(xmt_b), int(rcv_b)
        if low_b:
            low = cache[low_b] if low_b in cache else _convert(low_b, cache)
            avg = cache[avg_b] if avg_b in cache else _convert(avg_b, cache)
            high = cache[high_b] if high_b in cache else _convert(high_b, cache)
            if low is None or avg is None or high is None:
                continue  # an impossible RTT: the per-line parser warns about it
        else:
            low = avg = high = None
        # Duplicates counted in RCV (see _state.set_summary).
        fields.append((xmt, min(rcv, xmt), max(rcv - xmt, 0), low, avg, high))
        ok.append(i)
        labels.append(label)
    if not ok:
        return nl_pos + lo, np.empty(0, dtype=np.intp), [], []
    names = b" ".join(labels).decode("ascii").split(" ")
    results = [
        TargetResult(name, xmt, rcv, dups, None, low, avg, high)
        for name, (xmt, rcv, dups, low, avg, high) in zip(names, fields, strict=True)
    ]
    return nl_pos + lo, np.array(ok, dtype=np.intp), names, results
