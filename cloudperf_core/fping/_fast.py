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

import gc
from itertools import repeat

import numpy as np
import numpy.typing as npt

from cloudperf_core.models import TargetResult

_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_ONES = _U(0x0101010101010101)
_BYTE_INDEX = _U(0x0001020304050607)  # ((1 << 8p) * this) >> 56 == p
_CHUNK = 16384  # tokens per pass: keeps every temporary array in the CPU cache


def _tables() -> dict[str, npt.NDArray[np.uint64]]:
    keep = [0] + [((1 << (8 * n)) - 1) << (8 * (8 - n)) for n in range(1, 9)]
    fill = [0x3030303030303030 & ~k & (2**64 - 1) for k in keep]
    fill[0] = 0
    # Indexed by the dot's byte position p (0 = no dot): squeeze it out, scale to µs.
    low = [0] + [(1 << (8 * p)) - 1 for p in range(1, 8)]
    high = [2**64 - 1] + [~((1 << (8 * p + 8)) - 1) & (2**64 - 1) for p in range(1, 8)]
    orc = [0] + [0x30] * 7
    scale = [1000, 0, 0, 0, 1, 10, 100, 0]  # 0: more than 3 decimals or a trailing dot
    return {k: np.array(v, dtype=np.uint64) for k, v in locals().items()}


_T = _tables()
# A label must not be empty or start with whitespace (split_label), "[" (-D prefix) or "{"
# (JSON); these are the ASCII characters that can follow a newline in a joined label list.
_BAD_STARTS = tuple("\n" + c for c in "\n \t\x0b\x0c\x1c\x1d\x1e\x1f[{")

Run = tuple[int, int, list[str], list[TargetResult]]


def _swar_us(
    buf: bytes, ends: npt.NDArray[np.intp], length: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(µs values, lost mask, ok mask) of the tokens that end just before ``ends``."""
    parts = [
        _swar_chunk(buf, ends[i : i + _CHUNK], length[i : i + _CHUNK])
        for i in range(0, len(ends), _CHUNK)
    ]
    if len(parts) == 1:
        return parts[0]
    us, lost, ok = zip(*parts, strict=True)
    return np.concatenate(us), np.concatenate(lost), np.concatenate(ok)


def _swar_chunk(
    buf: bytes, ends: npt.NDArray[np.intp], length: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    words = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    n = np.minimum(length, 8)
    w = words[ends - 8]  # the token's last char is the top byte
    w &= _T["keep"][n]
    w |= _T["fill"][n]  # left-pad with '0'
    lost = (length == 1) & ((w >> _U(56)) == _U(45))
    dots = (w.view(np.uint8) == 46).view(np.uint64)  # 0x01 in every '.' byte
    p = (((dots * _BYTE_INDEX) >> _U(56)) & _U(7)).astype(np.intp)  # garbage if 2+ dots
    w = ((w & _T["low"][p]) << _U(8)) | (w & _T["high"][p]) | _T["orc"][p]
    digits = ((w.view(np.uint8) - np.uint8(48)) < 10).view(np.uint64) == _ONES
    v = w - _ZEROS
    v = ((v * _U(10)) + (v >> _U(8))) & _U(0x00FF00FF00FF00FF)
    v = ((v * _U(100)) + (v >> _U(16))) & _U(0x0000FFFF0000FFFF)
    v = ((v * _U(10000)) + (v >> _U(32))) & _U(0xFFFFFFFF)
    scale = _T["scale"][p]
    # A dot must have a digit before it: p + n > 8 (p == 0 means no dot).
    # A second dot survives the squeeze and fails the digit test.
    ok = lost | (digits & (scale > 0) & ((p == 0) | (p + n > 8)) & (length >= 1))
    ok &= length <= 8
    return (v * scale).astype(np.int64), lost, ok


def _build(
    labels: list[str],
    ok_lines: npt.NDArray[np.intp],
    us: npt.NDArray[np.int64],
    lost: npt.NDArray[np.bool_],
    counts: npt.NDArray[np.intp],
    n_lost: npt.NDArray[np.intp],
) -> list[TargetResult]:
    """One ``TargetResult`` per accepted line (the only per-target Python work)."""
    width = int(counts[0])
    # The cyclic GC would walk these fresh, acyclic objects over and over while we create
    # them; pausing it here roughly halves the cost. It is re-enabled before returning.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        values = us.astype(object)
        values[lost] = None  # lost probes, without a Python loop
        if bool((counts == width).all()):
            # The usual -C N run: one C-level tolist() gives every target its own list.
            rows: list[list[int | None]] = values.reshape(-1, width).tolist()
        else:
            flat: list[int | None] = values.tolist()
            stop = np.cumsum(counts).tolist()
            rows = [flat[b - c : b] for b, c in zip(stop, counts.tolist(), strict=True)]
        sent = counts.tolist()
        return [
            TargetResult(target=labels[i], sent=c, received=c - m, rtts_us=r)
            for i, c, m, r in zip(ok_lines.tolist(), sent, n_lost.tolist(), rows, strict=True)
        ]
    finally:
        if gc_was_enabled:
            gc.enable()


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
    all_labels = "\n" + "\n".join(labels) + "\n"
    if not all_labels.isascii() or any(bad in all_labels for bad in _BAD_STARTS):
        # Same rule as split_label (non-empty, no leading space), and no -D/JSON look-alikes.
        bad = [not lab or lab[0].isspace() or lab[0] in "[{" for lab in labels]
        line_ok[np.array(bad, dtype=bool)] = False
    ok_lines = np.flatnonzero(line_ok)
    if len(ok_lines) == 0:
        return []
    keep = line_ok[line_of]
    kept_line = line_of[keep]
    counts = np.bincount(kept_line, minlength=nlines)[ok_lines]
    n_lost = np.bincount(kept_line[lost[keep]], minlength=nlines)[ok_lines]
    results = _build(labels, ok_lines, us[keep], lost[keep], counts, n_lost)
    breaks = (np.flatnonzero(np.diff(ok_lines) != 1) + 1).tolist()
    runs: list[Run] = []
    for lo, hi in zip([0, *breaks], [*breaks, len(ok_lines)], strict=True):
        start, end = int(ok_lines[lo]), int(ok_lines[hi - 1]) + 1
        runs.append((start, end, labels[start:end], results[lo:hi]))
    return runs
