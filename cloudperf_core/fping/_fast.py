"""Vectorised fast path for blocks of ``-C`` rows (``LABEL : 0.47 - 1.23``).

fping ``-C N -q`` output of many targets is mostly such rows. A per-line Python parser spends
its time in ``split()``/``float()`` and in creating one number object per value; here the work
per *value* is a handful of numpy operations and no Python object is created per value:

1. each line is cut once at ``" : "`` (C-level ``str.partition``) and the value parts are
   joined into one ASCII buffer; every token (at most 8 bytes) is gathered as one uint64;
2. fping prints few *distinct* values (3 significant digits), so the tokens are deduplicated
   with a multiplicative hash table (verified by comparing the words: a hash collision
   only sends those tokens through an exact ``np.unique`` round);
3. only the distinct tokens are parsed: exactly, with integer SWAR arithmetic for the usual
   ``\\d+(\\.\\d{1,3})?`` and ``-`` forms, or with the per-line parser's own ``ms_to_us`` for
   anything else, so every value is what the per-line parser gives;
4. one Python int (or ``None``) per distinct token; every target's list is then a C-level
   gather + ``tolist()`` of those shared objects.

A line with a token the per-line parser would reject (or longer than 8 bytes, or separated by
anything but one space) is left to the per-line parser.
"""

from __future__ import annotations

import gc
from itertools import repeat
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from cloudperf_core.fping import _grammar as g
from cloudperf_core.models import TargetResult

_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_ONES = _U(0x0101010101010101)
_BYTE_INDEX = _U(0x0001020304050607)  # ((1 << 8p) * this) >> 56 == p
# Odd multipliers (golden ratio and two splitmix64 constants): spread the digit bytes.
_HASH_MULS = (_U(0x9E3779B97F4A7C15), _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB))
_HASH_BITS = 18
_GET_HEAD = itemgetter(0)
_GET_REST = itemgetter(2)


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
# First bytes a label must not start with (split_label: non-empty, no leading whitespace;
# "[" is a -D prefix, "{" JSON). Index 10 stands for an empty label.
_BAD_FIRST = np.zeros(256, dtype=bool)
_BAD_FIRST[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32, ord("["), ord("{")]] = True
_BAD_FIRST[128:] = True  # non-ASCII first character: decided by str.isspace() below

Run = tuple[int, int, list[str], list[TargetResult]]


def _swar_us(
    w: npt.NDArray[np.uint64], length: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(µs, lost, ok) of tokens given as their last 8 bytes (top byte = last char)."""
    n = np.minimum(length, 8)
    w = (w & _T["keep"][n]) | _T["fill"][n]  # left-pad with '0'
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


def _dedupe(w: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.intp]]:
    """(code per token, index of one token per code): equal words <=> equal codes."""
    code = np.empty(len(w), dtype=np.int32)
    reps_parts: list[npt.NDArray[np.intp]] = []
    n_codes = 0
    todo = None  # None: every token (round 1), else the indices still without a code
    sub = w
    for mul in _HASH_MULS:
        h = ((sub * mul) >> _U(64 - _HASH_BITS)).astype(np.intp)
        table = np.empty(1 << _HASH_BITS, dtype=np.int32)
        local = np.arange(len(sub), dtype=np.int32)
        table[h] = local  # some token of each bucket wins: the bucket's owner
        owner = table[h]
        mine = sub == sub[owner]  # False: a hash collision, retried with another multiplier
        reps = np.flatnonzero(owner == local)
        table[h[reps]] = np.arange(n_codes, n_codes + len(reps), dtype=np.int32)
        n_codes += len(reps)
        if todo is None:
            code = table[h]  # tokens that collided are overwritten below
            reps_parts.append(reps)
            todo = np.flatnonzero(~mine)
        else:
            code[todo[mine]] = table[h[mine]]
            reps_parts.append(todo[reps])
            todo = todo[~mine]
        if len(todo) == 0:
            return code, np.concatenate(reps_parts)
        sub = w[todo]
    assert todo is not None  # the loop ran
    _, first, inverse = np.unique(sub, return_index=True, return_inverse=True)
    code[todo] = n_codes + inverse.ravel()
    reps_parts.append(todo[first])
    return code, np.concatenate(reps_parts)


def _values(
    buf: bytes,
    ends: npt.NDArray[np.intp],
    length: npt.NDArray[np.intp],
    w: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(value object, lost, ok) per distinct token, in code order."""
    us, lost, ok = _swar_us(w, length)
    values = us.astype(object)
    for i in np.flatnonzero(~ok & (length >= 1) & (length <= 8)).tolist():
        token = buf[ends[i] - length[i] : ends[i]].decode("ascii")
        values[i] = g.ms_to_us(token)  # exactly what the per-line parser computes
        ok[i] = values[i] is not None
    values[lost] = None
    return values, lost, ok


def _build(
    labels: list[str],
    ok_lines: npt.NDArray[np.intp],
    values: npt.NDArray[np.object_],
    counts: npt.NDArray[np.intp],
    n_lost: npt.NDArray[np.intp],
) -> list[TargetResult]:
    """One ``TargetResult`` per accepted line (the only per-target Python work)."""
    width = int(counts[0])
    if bool((counts == width).all()):
        # The usual -C N run: one C-level tolist() gives every target its own list.
        rows: list[list[int | None]] = values.reshape(-1, width).tolist()
    else:
        flat: list[int | None] = values.tolist()
        stop = np.cumsum(counts).tolist()
        rows = [flat[b - c : b] for b, c in zip(stop, counts.tolist(), strict=True)]
    whole = len(ok_lines) == len(labels)
    targets = labels if whole else [labels[i] for i in ok_lines.tolist()]
    return [
        TargetResult(target=t, sent=s, received=r, rtts_us=v)
        for t, s, r, v in zip(
            targets, counts.tolist(), (counts - n_lost).tolist(), rows, strict=True
        )
    ]


def _label_ok(labels: list[str]) -> npt.NDArray[np.bool_]:
    """Per label: would ``split_label`` accept it and the line not look like -D/JSON?"""
    joined = ("\n" + "\n".join(labels) + "\n").encode()
    raw = np.frombuffer(joined, dtype=np.uint8)
    first = raw[np.flatnonzero(raw[:-1] == 10) + 1]
    ok = ~_BAD_FIRST[first]
    for i in np.flatnonzero(first >= 128).tolist():
        lab = labels[i]
        ok[i] = not lab[0].isspace()
    return ok


def parse_crow_block(lines: list[str]) -> list[Run] | None:
    """Find the ``-C`` rows among ``lines``; return runs of consecutive ones, parsed.

    Each run is ``(start, end, labels, results)`` for ``lines[start:end]``; every other line is
    for the per-line parser. ``None`` when the input is not suitable (e.g. not ASCII).
    """
    parts = list(map(str.partition, lines, repeat(" : ")))
    joined = "\n".join(map(_GET_REST, parts))
    if not joined.isascii():
        return None
    nlines = len(lines)
    # Tokens end at a space or newline (anything <= 32 is looked at, and rejected below).
    # A line without " : " has an empty rest: one empty token, which is never accepted.
    buf = b"        " + joined.encode("ascii") + b"\n"
    body = np.frombuffer(buf, dtype=np.uint8)[8:]
    ends = np.flatnonzero(body <= 32)
    sep = body[ends]
    newline = sep == 10
    last_tok = np.flatnonzero(newline)
    first_tok = np.empty(nlines, dtype=np.intp)
    first_tok[0] = 0
    first_tok[1:] = last_tok[:-1] + 1
    counts = last_tok - first_tok + 1
    length = np.empty_like(ends)
    length[0] = ends[0]
    np.subtract(ends[1:], ends[:-1], out=length[1:])
    length[1:] -= 1
    ends += 8
    words = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    w = words.take(ends - 8) & _T["keep"][np.minimum(length, 8)]  # top bytes = the token
    w[length > 8] = 0  # a token too long: its word is the empty token's (never accepted)

    gc_was_enabled = gc.isenabled()
    gc.disable()  # many fresh acyclic objects ahead: do not let the cyclic GC walk them
    try:
        code, reps = _dedupe(w)
        rep_values, rep_lost, rep_ok = _values(buf, ends[reps], length[reps], w[reps])
        tok_ok = rep_ok[code] & (newline | (sep == 32)) & (length <= 8)
        line_ok = np.logical_and.reduceat(tok_ok, first_tok)
        labels = list(map(str.rstrip, map(_GET_HEAD, parts), repeat(" ")))
        line_ok &= _label_ok(labels)
        ok_lines = np.flatnonzero(line_ok)
        if len(ok_lines) == 0:
            return []
        if len(ok_lines) < nlines:
            keep = np.repeat(line_ok, counts)
            code, counts = code[keep], counts[ok_lines]
        n_lost = np.add.reduceat(rep_lost[code], np.cumsum(counts) - counts, dtype=np.intp)
        results = _build(labels, ok_lines, rep_values[code], counts, n_lost)
    finally:
        if gc_was_enabled:
            gc.enable()
    breaks = (np.flatnonzero(np.diff(ok_lines) != 1) + 1).tolist()
    runs: list[Run] = []
    for lo, hi in zip([0, *breaks], [*breaks, len(ok_lines)], strict=True):
        start, end = int(ok_lines[lo]), int(ok_lines[hi - 1]) + 1
        runs.append((start, end, labels[start:end], results[lo:hi]))
    return runs
