"""Merging every line about a target into one ``TargetResult`` (fping-output.md §2, §4.3).

The accumulator keeps targets in the order of their first *anchor* line (summary, ``-C`` row,
verdict, name error); targets only ever mentioned by per-probe, ICMP or duplicate lines follow
in first-seen order. Labels are not unique (§2.1): the k-th row for a label in one block is the
k-th target with that label.

Streaming (``take_done``): between blocks of input, the complete targets at the front of the
output order are handed out and forgotten, so memory does not grow with the input. Complete
means fping printed its final line (a ``-C`` row, a final summary, a verdict, or an error); the
targets of one label leave together. A later line that is not a row and names a target already
handed out raises :class:`LateLine` (it would have been merged into that target); a later row
with that label is a new target, as a repeated label is anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cloudperf_core.models import TargetResult

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class LateLine(Exception):
    """A line about a target that streaming already handed out (internal)."""


class _DoneLabels:
    """The labels handed out so far, as a sorted array of 64-bit string hashes.

    8 bytes a label instead of a set of strings (~110): a streamed parse keeps this for every
    target it printed. Two different labels with the same 64-bit hash are as likely as not to
    happen in 10^9 parses of a million targets each.
    """

    def __init__(self) -> None:
        self._hashes: npt.NDArray[np.int64] | None = None
        self._revived: set[str] = set()  # handed out, then a new target with that label

    def __bool__(self) -> bool:
        return self._hashes is not None

    def __contains__(self, label: str) -> bool:
        hashes = self._hashes
        if hashes is None or label in self._revived:
            return False
        i = int(hashes.searchsorted(hash(label)))
        return i < len(hashes) and int(hashes[i]) == hash(label)

    def add(self, labels: Iterable[str]) -> None:
        import numpy as np

        new = np.fromiter(map(hash, labels), dtype=np.int64)
        new.sort()
        merged = new if self._hashes is None else np.concatenate((self._hashes, new))
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        self._hashes = merged
        if self._revived:
            self._revived.difference_update(labels)

    def revive(self, label: str) -> None:
        self._revived.add(label)


class Accumulator:
    """Mutable state of one parse; ``finish()`` returns the targets."""

    def __init__(self) -> None:
        self.order: list[TargetResult] = []
        self.pending: dict[str, TargetResult] = {}
        self.slot0: dict[str, TargetResult] = {}
        self.more_slots: dict[str, list[TargetResult]] = {}
        self.row_counts: dict[str, int] = {}
        self.other_counts: dict[tuple[str, str], int] = {}
        self.probes: dict[str, list[dict[int, int | None]]] = {}
        self.probe_seen: dict[str, dict[int, int]] = {}
        # Lost probes that per-probe lines leave out (≤4.x prints nothing for them) are
        # padded in as None; a parse may pad at most this many in all (grown per input line),
        # so a line like "[999999999]" cannot make a list of a billion entries.
        self.pad_budget = 1 << 20
        # -Q / SIGQUIT interval blocks: rows after a header are deltas, the final summary wins.
        self.interval = False
        self.block_counts: dict[str, int] = {}
        self.block_total = 0
        self.expected: dict[str, int] = {}
        self.in_usage = False
        # Blocks added by bulk_crows whose labels are not yet in slot0/row_counts: most runs
        # end with their -C rows, and then nothing ever looks them up (see _materialize).
        self.bulk: list[tuple[list[str], list[TargetResult]]] = []
        # Labels whose targets take_done() handed out (streaming only).
        self.done_labels = _DoneLabels()

    # --- slots ---------------------------------------------------------------------------

    def _materialize(self) -> None:
        for labels, results in self.bulk:
            self.slot0.update(zip(labels, results, strict=True))
            self.row_counts.update(dict.fromkeys(labels, 1))
        self.bulk.clear()

    def first(self, label: str) -> TargetResult:
        """The first target with ``label``, created unanchored if unknown."""
        if self.bulk:
            self._materialize()
        tr = self.slot0.get(label)
        if tr is None:
            if self.done_labels and label in self.done_labels:
                raise LateLine(label)
            tr = TargetResult(target=label)
            self.slot0[label] = tr
            self.pending[label] = tr
        return tr

    def slot(self, label: str, k: int) -> TargetResult:
        """The k-th target with ``label``, anchored (placed in output order) now."""
        tr = self.first(label)
        if k == 0:
            if self.pending.pop(label, None) is not None:
                self.order.append(tr)
            return tr
        extra = self.more_slots.setdefault(label, [])
        while len(extra) < k:
            new = TargetResult(target=label)
            extra.append(new)
            self.order.append(new)
        return extra[k - 1]

    def anchor(self, kind: str, label: str) -> TargetResult:
        """Slot for a verdict/name-error line: the n-th such line for a label -> n-th target."""
        key = (kind, label)
        k = self.other_counts.get(key, 0)
        self.other_counts[key] = k + 1
        return self.slot(label, k)

    # --- rows (summary, -C) ----------------------------------------------------------------

    def header(self) -> None:
        """An ``[HH:MM:SS]`` interval header starts a block of delta rows."""
        self._close_block()
        self.interval = True

    def _close_block(self) -> None:
        for label, n in self.block_counts.items():
            if n > self.expected.get(label, 0):
                self.expected[label] = n
        self.block_counts = {}
        self.block_total = 0

    def row(self, label: str) -> TargetResult | None:
        """Slot for a final summary/``-C`` row, or ``None`` for an interval (delta) row."""
        if self.bulk:
            self._materialize()
        if self.interval:
            seen = self.block_counts.get(label, 0)
            limit = self.expected.get(label, 1) if self.expected else 1
            full = bool(self.expected) and self.block_total >= sum(self.expected.values())
            if seen < limit and not full:
                self.block_counts[label] = seen + 1
                self.block_total += 1
                self.slot(label, seen)  # fixes the output order; counts come later
                return None
            # The final summary follows the last block without a header (§2.6).
            self._close_block()
            self.interval = False
        k = self.row_counts.get(label, 0)
        if k == 0 and self.done_labels and label not in self.slot0:
            self.done_labels.revive(label)  # a row again: a new target with this label
        self.row_counts[label] = k + 1
        return self.slot(label, k)

    def set_summary(
        self,
        tr: TargetResult,
        xmt: int,
        rcv: int,
        rtt_us: tuple[int, int, int] | None,
    ) -> None:
        tr.sent = xmt
        tr.received = min(rcv, xmt)
        if rcv > xmt:  # ≤4.x loop mode and 5.5 -q count duplicates in RCV (§4.3)
            tr.duplicates += rcv - xmt
        if rtt_us is not None:
            tr.min_us, tr.avg_us, tr.max_us = rtt_us

    def set_crow(self, tr: TargetResult, values: list[int | None]) -> None:
        tr.rtts_us = values
        tr.sent = len(values)
        tr.received = len(values) - values.count(None)

    @staticmethod
    def apply_row(tr: TargetResult, row: TargetResult) -> None:
        """``set_crow``/``set_summary`` from a row the fast path already turned into a result."""
        tr.sent, tr.received = row.sent, row.received
        tr.duplicates += row.duplicates
        if row.rtts_us is not None:
            tr.rtts_us = row.rtts_us
        if row.min_us is not None:
            tr.min_us, tr.avg_us, tr.max_us = row.min_us, row.avg_us, row.max_us

    def bulk_crows(self, labels: list[str], results: list[TargetResult]) -> bool:
        """Add many rows (``-C`` rows or summaries, as results) at once; ``False`` if the
        simple case does not apply.

        Simple: no interval block, labels unique, and every label either new or known only
        from per-probe/ICMP/duplicate lines (its pending target takes the row's values).
        """
        if self.interval or self.in_usage:
            return False
        where = dict(zip(labels, range(len(labels)), strict=True))  # hashes each label once
        if len(where) != len(labels):
            return False
        if self.bulk:
            self._materialize()
        clash = self.slot0.keys() & where.keys()
        if clash:
            if any(lab not in self.pending or lab in self.row_counts for lab in clash):
                return False
            results = list(results)
            for lab in clash:
                i = where[lab]
                old = self.pending.pop(lab)
                self.apply_row(old, results[i])
                results[i] = old
        self.bulk.append((labels, results))
        self.order.extend(results)
        return True

    # --- per-probe lines -------------------------------------------------------------------

    def probe(self, label: str, idx: int, rtt_us: int | None) -> None:
        self.first(label)
        records = self.probes.setdefault(label, [])
        # The k-th line with this [IDX] goes to the k-th record (k-th target with the label).
        seen = self.probe_seen.setdefault(label, {})
        k = seen.get(idx, 0)
        seen[idx] = k + 1
        if k == len(records):
            records.append({})
        records[k][idx] = rtt_us

    # --- result ----------------------------------------------------------------------------

    def finish(self) -> list[TargetResult]:
        if self.probes and self.bulk:
            self._materialize()
        for label in list(self.probes):
            self._apply_label_probes(label)
        return [*self.order, *self.pending.values()]

    def take_done(self) -> list[TargetResult]:
        """Hand out (and forget) the complete targets at the front of the output order."""
        order = self.order
        n = 0
        while n < len(order) and _complete(order[n]):
            n += 1
        if n == 0:
            return []
        # Never split a label's targets between what leaves and what stays.
        staying = {tr.target for tr in order[n:]}
        staying.update(self.pending)
        if staying:
            for i in range(n):
                if order[i].target in staying:
                    n = i
                    break
        done = order[:n]
        del order[:n]
        if self.bulk:
            if order:
                self._materialize()
            else:  # every target left: their labels go to done_labels below
                self.bulk.clear()
        labels = {tr.target for tr in done}
        for label in labels & self.probes.keys():
            self._apply_label_probes(label)
        for label in labels:
            self.slot0.pop(label, None)
            self.more_slots.pop(label, None)
            self.row_counts.pop(label, None)
            self.other_counts.pop(("verdict", label), None)
            self.other_counts.pop(("name", label), None)
        self.done_labels.add(labels)
        return done

    def _apply_label_probes(self, label: str) -> None:
        records = self.probes.pop(label)
        self.probe_seen.pop(label, None)
        slots = [self.slot0[label], *self.more_slots.get(label, ())]
        if len(records) > len(slots):
            # A repeated [IDX]: keep the first reply, count the others as duplicates.
            dups = sum(len(rec) for rec in records[len(slots) :])
            slots[-1].duplicates += dups
            self._undo_loop_dups(slots[-1], records[len(slots) - 1], dups)
        for tr, rec in zip(slots, records, strict=False):
            self._apply_probes(tr, rec)

    def _apply_probes(self, tr: TargetResult, rec: dict[int, int | None]) -> None:
        if tr.rtts_us is not None:
            return  # values from a -C row (the only other source before finish) win
        n = max(rec) + 1
        if tr.sent is not None and tr.sent > n:
            n = tr.sent  # ≤4.x prints nothing for lost probes: pad to the count
        gap = n - len(rec)
        if gap > self.pad_budget:
            tr.errors.append(
                f"per-probe lines name probe {n - 1} but show only {len(rec)}: not expanded"
            )
            return
        self.pad_budget -= gap
        rtts = [rec.get(i) for i in range(n)]
        tr.rtts_us = rtts
        if tr.sent is None:
            tr.sent = n
            tr.received = n - rtts.count(None)

    def _undo_loop_dups(self, tr: TargetResult, rec: dict[int, int | None], dups: int) -> None:
        # 5.x loop mode counts every duplicate in both XMT and RCV (§4.3, 51_dup_l: 8/8 for 4).
        if tr.rtts_us is not None or tr.sent is None or tr.received is None:
            return
        if tr.sent == max(rec) + 1 + dups and tr.received >= dups:
            tr.sent -= dups
            tr.received -= dups


def _complete(tr: TargetResult) -> bool:
    """fping printed the target's final line (interval rows leave ``sent`` unset)."""
    return tr.sent is not None or tr.alive is not None or bool(tr.errors)
