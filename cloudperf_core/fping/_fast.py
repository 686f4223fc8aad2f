"""Vectorised fast path for blocks of ``-C`` rows (``LABEL : 0.47 - 1.23``).

fping ``-C N -q`` output of many targets is mostly such rows, and a per-line Python parser
spends its time in ``float()``. Here every value of every line is parsed at once with numpy:
each token is gathered as one little-endian uint64 (its last 8 bytes), left-padded with ``'0'``,
the decimal point is squeezed out and the 8 digits are combined with the SWAR multiply trick.
Values come out as exact integer microseconds (no binary floating point involved).

Only tokens of at most 8 characters of the form ``\\d+(\\.\\d{1,3})?`` or ``-`` are handled;
any line with another token (exponent, minus sign, more decimals, other text) is left to the
per-line parser, which gives the same answer for what both accept.
"""

from __future__ import annotations

import re
from itertools import repeat

import numpy as np
import numpy.typing as npt

from cloudperf_core.models import TargetResult

_U = np.uint64
_ALL1 = _U(0xFFFFFFFFFFFFFFFF)
_ZEROS = _U(0x3030303030303030)
_DOTS = _U(0x2E2E2E2E2E2E2E2E)
_M7F = _U(0x7F7F7F7F7F7F7F7F)
_M80 = _U(0x8080808080808080)
_MF0 = _U(0xF0F0F0F0F0F0F0F0)
_M06 = _U(0x0606060606060606)
_BYTE_INDEX = _U(0x0001020304050607)  # (1 << 8p) * this >> 56 == p
_POW_US = np.array([1000, 100, 10, 1], dtype=np.uint64)  # by number of decimals
_BAD_LABEL = re.compile(r"^(?:[\s\[{]|$)", re.MULTILINE)

Run = tuple[int, int, list[str], list[TargetResult]]


def _swar_us(
    buf: bytes, ends: npt.NDArray[np.intp], length: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(µs values, lost mask, ok mask) of the tokens that end just before ``ends``."""
    words = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    w = words[ends - 8]
    n = np.clip(length, 1, 8).astype(np.uint64)
    keep = _ALL1 << (_U(8) * (_U(8) - n))
    w = (w & keep) | (_ZEROS & ~keep)
    lost = (length == 1) & ((w >> _U(56)) == _U(45))
    x = w ^ _DOTS
    dots = ~(((x & _M7F) + _M7F) | x) & _M80  # 0x80 in every byte that is '.'
    has_dot = dots != _U(0)
    one_dot = (dots & (dots - _U(1))) == _U(0)
    pos = ((dots >> _U(7)) * _BYTE_INDEX) >> _U(56)
    p = np.minimum(pos, _U(6))
    low = (_U(1) << (_U(8) * p)) - _U(1)
    high = ~((_U(1) << (_U(8) * p + _U(8))) - _U(1))
    w = np.where(has_dot, ((w & low) << _U(8)) | (w & high) | _U(0x30), w)
    digits = ((w & _MF0) == _ZEROS) & (((w + _M06) & _MF0) == _ZEROS)
    v = w - _ZEROS
    v = ((v * _U(10)) + (v >> _U(8))) & _U(0x00FF00FF00FF00FF)
    v = ((v * _U(100)) + (v >> _U(16))) & _U(0x0000FFFF0000FFFF)
    v = (v * _U(10000)) + (v >> _U(32))
    v &= _U(0xFFFFFFFF)
    decimals = np.where(has_dot, _U(7) - pos, _U(0))
    dot_ok = ~has_dot | (one_dot & (pos >= _U(4)) & (pos <= _U(6)) & (pos > _U(8) - n))
    ok = lost | (digits & dot_ok & (length >= 1) & (length <= 8))
    us = (v * _POW_US[np.minimum(decimals, _U(3)).astype(np.intp)]).astype(np.int64)
    return us, lost, ok


def parse_crow_block(lines: list[str]) -> list[Run] | None:
    """Find the ``-C`` rows among ``lines``; return runs of consecutive ones, parsed.

    Each run is ``(start, end, labels, results)`` for ``lines[start:end]``; every other line is
    for the per-line parser. ``None`` when the input is not suitable (e.g. not ASCII).
    """
    heads, seps, rests = zip(*map(str.partition, lines, repeat(" : ")), strict=True)
    joined = "\n".join(rests)
    if not joined.isascii():
        return None
    nlines = len(lines)
    buf = b"        " + joined.encode("ascii") + b"\n"
    body = np.frombuffer(buf, dtype=np.uint8)[8:]
    ends = np.flatnonzero((body == 32) | (body == 10)) + 8
    starts = np.empty_like(ends)
    starts[0] = 8
    starts[1:] = ends[:-1] + 1
    length = ends - starts
    newline = body[ends - 8] == 10
    line_of = np.cumsum(newline) - newline
    us, lost, ok = _swar_us(buf, ends, length)

    line_ok = np.fromiter(map(len, seps), dtype=np.intp, count=nlines) > 0
    line_ok[line_of[~ok]] = False
    labels = list(map(str.rstrip, heads, repeat(" ")))
    if _BAD_LABEL.search("\n".join(labels)) is not None:
        # Same rule as split_label (non-empty, no leading space), and no -D/JSON look-alikes.
        bad = [not lab or lab[0].isspace() or lab[0] in "[{" for lab in labels]
        line_ok[np.array(bad, dtype=bool)] = False
    ok_lines = np.flatnonzero(line_ok)
    if len(ok_lines) == 0:
        return []
    keep = line_ok[line_of]
    kept_line = line_of[keep]
    counts = np.bincount(kept_line, minlength=nlines)[ok_lines]
    lost_kept = lost[keep]
    n_lost = np.bincount(kept_line[lost_kept], minlength=nlines)[ok_lines]
    flat: list[int | None] = us[keep].tolist()
    for i in np.flatnonzero(lost_kept).tolist():
        flat[i] = None
    stop = np.cumsum(counts)
    first = (stop - counts).tolist()
    sent = counts.tolist()
    results = [
        TargetResult(target=labels[i], sent=c, received=c - m, rtts_us=flat[a:b])
        for i, c, m, a, b in zip(
            ok_lines.tolist(), sent, n_lost.tolist(), first, stop.tolist(), strict=True
        )
    ]
    breaks = (np.flatnonzero(np.diff(ok_lines) != 1) + 1).tolist()
    runs: list[Run] = []
    for lo, hi in zip([0, *breaks], [*breaks, len(ok_lines)], strict=True):
        start, end = int(ok_lines[lo]), int(ok_lines[hi - 1]) + 1
        runs.append((start, end, labels[start:end], results[lo:hi]))
    return runs
