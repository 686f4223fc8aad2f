"""Vectorised fast path for ``-C`` rows (``LABEL : 0.47 - 1.23``) in a whole fping output.

fping ``-C N -q`` output of many targets is mostly such rows. A per-line Python parser spends
its time in ``split()``/``float()`` and in creating one number object per value; here the whole
text is one byte buffer and no Python object is created per value or per line until the
results are built:

1. token boundaries: every whitespace byte followed by a non-whitespace byte, and every
   newline. A row's padding collapses, so a row is exactly ``label, ":", values...`` in token
   space; each token (at most 8 bytes) is gathered as one uint64;
2. fping prints few *distinct* values (3 significant digits), so the tokens are deduplicated
   with a multiplicative hash table (verified by comparing the words: a hash collision
   only sends those tokens through another round);
3. only the distinct tokens are parsed: exactly, with integer SWAR arithmetic for the usual
   ``\\d+(\\.\\d{1,3})?`` and ``-`` forms, or with the per-line parser's own ``ms_to_us`` for
   anything else, so every value is what the per-line parser gives;
4. one Python int (or ``None``) per distinct token; every target's list is then a C-level
   gather + ``tolist()`` of those shared objects, and all labels come from one ``split()``.

A line that is not exactly such a row (a label with a space or a non-ASCII or control
character, a token the per-line parser would reject or longer than 8 bytes, two spaces, ...)
is left to the per-line parser.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import numpy.typing as npt

from cloudperf_core.fping import _grammar as g
from cloudperf_core.fping import _summary
from cloudperf_core.limits import MAX_RTT_US
from cloudperf_core.models import TargetResult

_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_ONES = _U(0x0101010101010101)
_BYTE_INDEX = _U(0x0001020304050607)  # ((1 << 8p) * this) >> 56 == p
# Odd multipliers (golden ratio and two splitmix64 constants): spread the digit bytes.
_HASH_MULS = (_U(0x9E3779B97F4A7C15), _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB))
_HASH_BITS = 16
# Per-token class, summed per line: a line is a row iff its sum is 2 * _BAD (the label and
# ":" tokens) plus its number of lost probes.
_BAD = 1 << 32
#: Bytes of text per chunk of whole lines (the fast path's arrays are ~10x this).
CHUNK_BYTES = 1 << 20
_PAD = b"xxxxxxxx"  # before the text: 8 bytes to read a word ending at any token; no boundary


def _tables() -> dict[str, npt.NDArray[np.uint64]]:
    # Indexed by token length n (9: longer than 8 bytes -> the empty token's word, never valid).
    keep = [0] + [((1 << (8 * n)) - 1) << (8 * (8 - n)) for n in range(1, 9)] + [0]
    fill = [0x3030303030303030 & ~k & (2**64 - 1) for k in keep]
    fill[0] = 0
    # Indexed by the dot's byte position p (0 = no dot): squeeze it out, scale to µs.
    low = [0] + [(1 << (8 * p)) - 1 for p in range(1, 8)]
    high = [2**64 - 1] + [~((1 << (8 * p + 8)) - 1) & (2**64 - 1) for p in range(1, 8)]
    orc = [0] + [0x30] * 7
    scale = [1000, 0, 0, 0, 1, 10, 100, 0]  # 0: more than 3 decimals or a trailing dot
    return {k: np.array(v, dtype=np.uint64) for k, v in locals().items()}


_T = _tables()
_KEEP_BY_GAP = np.concatenate(
    (np.zeros(1, np.uint64), _T["keep"])
)  # by token length + 1 (10: longer than 8)
# First bytes a label must not start with (split_label: no leading whitespace; "[" is a -D
# prefix, "{" JSON). Control and non-ASCII bytes never reach this check.
_BAD_FIRST = np.zeros(256, dtype=bool)
_BAD_FIRST[[32, ord("["), ord("{")]] = True

Run = tuple[int, int, list[str], list[TargetResult]]


class TextLines:
    """``text.split("\n")[i]`` without splitting: line ``i`` sliced on demand."""

    __slots__ = ("_stops", "_text")

    def __init__(self, text: str, stops: list[int]) -> None:
        self._text, self._stops = text, stops  # stops: where each line's newline is

    def __len__(self) -> int:
        return len(self._stops)

    def __getitem__(self, i: int) -> str:
        return self._text[self._stops[i - 1] + 1 if i else 0 : self._stops[i]]


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
    bits = min(_HASH_BITS, max(len(w).bit_length(), 4))  # small inputs: a small table
    table = np.empty(1 << bits, dtype=np.int32)
    for mul in _HASH_MULS:
        h = np.multiply(sub, mul)
        np.right_shift(h, _U(64 - bits), out=h)
        bucket = h.view(np.intp)  # < 2**bits: the same bits as a signed index
        table.fill(-1)
        table[bucket] = np.arange(len(sub), dtype=np.int32)  # a bucket's last token owns it
        used = np.flatnonzero(table >= 0)
        reps = table[used].astype(np.intp)
        table[used] = np.arange(n_codes, n_codes + len(reps), dtype=np.int32)
        sub_code = table.take(bucket)
        # Each token against its bucket owner's word (a small table: cheap to gather from);
        # unequal means a hash collision, retried with another multiplier.
        other = sub != sub[reps].take(sub_code - n_codes if n_codes else sub_code)
        n_codes += len(reps)
        if todo is None:
            code = sub_code  # tokens that collided are overwritten below
            reps_parts.append(reps)
            todo = np.flatnonzero(other)
        else:
            mine = ~other
            code[todo[mine]] = sub_code[mine]
            reps_parts.append(todo[reps])
            todo = todo[other]
        if len(todo) == 0:
            return code, np.concatenate(reps_parts)
        sub = w[todo]
    assert todo is not None  # the loop ran
    _, first, inverse = np.unique(sub, return_index=True, return_inverse=True)
    code[todo] = n_codes + inverse.ravel()
    reps_parts.append(todo[first])
    return code, np.concatenate(reps_parts)


def _classes(
    buf: bytes,
    ends: npt.NDArray[np.intp],
    length: npt.NDArray[np.intp],
    w: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """(value object, class) per distinct token, in code order; class 0 value, 1 lost."""
    us, lost, ok = _swar_us(w, length)
    ok &= w != 0  # the empty word also stands for labels and tokens longer than 8 bytes
    # An impossible RTT sends its line to the per-line parser, which warns about it.
    ok &= lost | (us <= MAX_RTT_US)
    values = us.astype(object)
    for i in np.flatnonzero(~ok & (w != 0) & (length <= 8)).tolist():
        token = buf[ends[i] - length[i] : ends[i]].decode("latin-1")  # non-ASCII: bad line
        value = g.ms_to_us(token)  # exactly what the per-line parser computes
        values[i] = value
        ok[i] = value is not None and 0 <= value <= MAX_RTT_US
    values[lost] = None
    cls = lost.astype(np.int64)
    cls[~ok] = _BAD
    return values, cls


def _bad_lines(
    chunk: npt.NDArray[np.uint8], nl_pos: npt.NDArray[np.intp], ascii_text: bool
) -> npt.NDArray[np.bool_] | None:
    """Lines with a control byte other than the newline, or a non-ASCII byte (rare)."""
    low = chunk < 32
    if np.count_nonzero(low) == len(nl_pos) and ascii_text:
        return None
    low[nl_pos] = False
    low |= chunk >= 128
    bad = np.zeros(len(nl_pos), dtype=bool)
    bad[np.searchsorted(nl_pos, np.flatnonzero(low))] = True
    return bad


def _labels(
    raw: npt.NDArray[np.uint8], starts: npt.NDArray[np.intp], stops: npt.NDArray[np.intp]
) -> list[str]:
    """Every ``raw[starts[i]:stops[i] + 1]`` (label, padding, one space), split at once."""
    width = int(stops[0] - starts[0])
    if bool((stops - starts == width).all()):  # fping pads the labels of a block to one width
        return raw.take(starts[:, None] + np.arange(width + 1)).tobytes().decode("ascii").split()
    lens = stops - starts + 1
    cum = np.cumsum(lens)
    idx = np.arange(int(cum[-1]), dtype=np.intp)
    idx += np.repeat(starts - (cum - lens), lens)
    return raw.take(idx).tobytes().decode("ascii").split()


def _rows(
    values: npt.NDArray[np.object_],
    code: npt.NDArray[np.int32],
    first: npt.NDArray[np.intp],
    counts: npt.NDArray[np.intp],
) -> list[list[int | None]]:
    """Per accepted line the value objects of ``code[first[i] : first[i] + counts[i]]``."""
    width = int(counts[0])
    n = len(first)
    if bool((counts == width).all()):
        step = width + 2  # label and ":" tokens between rows
        if n == 1 or bool((np.diff(first) == step).all()):
            lo = int(first[0])
            codes = code[lo - 2 : lo - 2 + n * step].reshape(n, step)[:, 2:]
        else:
            codes = code.take(first[:, None] + np.arange(width))
        return values.take(codes).tolist()  # type: ignore[no-any-return]
    cum = np.cumsum(counts)
    idx = np.arange(int(cum[-1]), dtype=np.intp)
    idx += np.repeat(first - (cum - counts), counts)
    flat: list[int | None] = values.take(code.take(idx)).tolist()
    return [flat[b - c : b] for b, c in zip(cum.tolist(), counts.tolist(), strict=True)]


def parse_crow_text(text: str, min_lines: int) -> tuple[TextLines | list[str], list[Run]] | None:
    """Find the ``-C`` rows in ``text``; return its lines and runs of consecutive rows.

    Each run is ``(start, end, labels, results)`` for lines ``start:end``; every other line is
    for the per-line parser. ``None`` when the input is not suitable (not encodable, or fewer
    than ``min_lines`` lines).
    """
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    # A trailing newline, then a byte > 32 so that the last newline is a boundary too.
    buf = b"".join((_PAD, body, b"x" if body.endswith(b"\n") else b"\nx"))
    raw = np.frombuffer(buf, dtype=np.uint8)
    ascii_text = text.isascii()
    nl_parts: list[npt.NDArray[np.intp]] = []
    ok_parts: list[npt.NDArray[np.intp]] = []
    labels: list[str] = []
    results: list[TargetResult] = []
    n_lines = 0
    lo = len(_PAD)
    last = len(buf) - 2  # the final newline
    while lo <= last:
        # Chunks of whole lines: the arrays stay small enough to be cache- and heap-friendly.
        hi = buf.find(b"\n", lo + CHUNK_BYTES - 1, last)
        hi = last if hi < 0 else hi
        if buf.find(_summary.MARKER, lo, hi) >= 0:  # -c summaries, not -C rows
            nl_pos, ok, chunk_labels, chunk_results = _summary.summary_chunk(buf, raw, lo, hi)
        else:
            nl_pos, ok, chunk_labels, chunk_results = _chunk(buf, raw, lo, hi, ascii_text)
        nl_parts.append(nl_pos)
        ok_parts.append(ok + n_lines)
        labels += chunk_labels
        results += chunk_results
        n_lines += len(nl_pos)
        lo = hi + 1
    if n_lines < min_lines:
        return None
    all_nl = np.concatenate(nl_parts)
    lines: TextLines | list[str]
    if ascii_text:
        lines = TextLines(text, (all_nl - len(_PAD)).tolist())
    else:
        lines = text.split("\n", n_lines)[:n_lines]
    ok_lines = np.concatenate(ok_parts)
    breaks = (np.flatnonzero(np.diff(ok_lines) != 1) + 1).tolist()
    runs: list[Run] = []
    if len(ok_lines) == 0:
        return lines, runs
    for a, b in zip([0, *breaks], [*breaks, len(ok_lines)], strict=True):
        start, end = int(ok_lines[a]), int(ok_lines[b - 1]) + 1
        runs.append((start, end, labels[a:b], results[a:b]))
    return lines, runs


def _chunk(
    buf: bytes, raw: npt.NDArray[np.uint8], lo: int, hi: int, ascii_text: bool
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], list[str], list[TargetResult]]:
    """The lines in ``buf[lo : hi + 1]`` (``hi``: a newline): (newline positions, indices of
    the -C rows among them, their labels, their results)."""
    chunk = raw[lo : hi + 1]
    space = raw[lo : hi + 2] <= 32
    ends = np.flatnonzero(space[:-1] > space[1:])  # positions in chunk from here on
    nl_tok = np.flatnonzero(chunk.take(ends) == 10)
    if len(nl_tok) != np.count_nonzero(chunk == 10):  # a newline followed by whitespace
        ends = np.flatnonzero((space[:-1] > space[1:]) | (chunk == 10))
        nl_tok = np.flatnonzero(chunk.take(ends) == 10)
    nl_pos = ends[nl_tok]
    bad = _bad_lines(chunk, nl_pos, ascii_text)
    gap = np.empty_like(ends)  # token length + 1
    gap[0] = ends[0] + 1
    np.subtract(ends[1:], ends[:-1], out=gap[1:])
    # Line i: tokens label_tok[i] (label + padding), label_tok[i] + 1 (":"), then values.
    label_tok = np.empty_like(nl_tok)
    label_tok[0] = 0
    label_tok[1:] = nl_tok[:-1] + 1
    counts = nl_tok - label_tok - 1  # values per line (-1: not even a ":" token)
    colon = np.minimum(label_tok + 1, len(ends) - 1)
    line_start = ends[label_tok] - gap[label_tok] + 1
    line_ok = (counts >= 0) & (gap[colon] == 2) & (chunk[ends[colon] - 1] == 58)
    line_ok &= (gap[label_tok] >= 2) & ~_BAD_FIRST[chunk[line_start]]
    if bad is not None:
        line_ok &= ~bad
    nl_pos += lo
    first = np.minimum(colon + 1, len(ends) - 1)  # a -c summary: "xmt/rcv/%loss" is too long
    if not (line_ok & ((counts == 0) | (gap[first] <= 9))).any():
        return nl_pos, np.empty(0, dtype=np.intp), [], []
    # words[j]: the 8 bytes before chunk[j]. Fancy indexing, not take(): take() would first
    # copy the strided view (8 bytes per byte).
    words = np.ndarray(shape=(hi + 1 - lo,), dtype="<u8", buffer=buf, offset=lo - 8, strides=(1,))
    w = words[ends]
    w &= _KEEP_BY_GAP.take(np.minimum(gap, len(_KEEP_BY_GAP) - 1))
    w[label_tok] = 0  # labels are not values: keep them out of the distinct tokens
    code, reps = _dedupe(w)
    values, rep_cls = _classes(buf, ends[reps] + lo, gap[reps] - 1, w[reps])
    n_lost = np.add.reduceat(rep_cls.take(code), label_tok) - 2 * _BAD
    line_ok &= (n_lost >= 0) & (n_lost < _BAD)
    ok_lines = np.flatnonzero(line_ok)
    if len(ok_lines) == 0:
        return nl_pos, ok_lines, [], []
    counts = counts[ok_lines]
    rows = _rows(values, code, label_tok[ok_lines] + 2, counts)
    labels = _labels(chunk, line_start[ok_lines], ends[label_tok[ok_lines]])
    results = list(
        map(
            TargetResult,
            labels,
            counts.tolist(),
            (counts - n_lost[ok_lines]).tolist(),
            repeat(0),
            rows,
        )
    )
    return nl_pos, ok_lines, labels, results
