"""Seeded generator of fping output from a model of targets and probes.

Used by the parser benchmark (large outputs) and by the parser's property tests (the model is
what the parser must give back); ``synthetic_reports`` feeds the ingest and aggregate benchmarks.
RTTs are quantised to what fping 5.x can print (``sprint_tm``:
3 decimals below 1 ms, 2 below 10 ms, 1 below 100 ms, whole ms above), so text -> parse is exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult


@dataclass
class GenTarget:
    """What fping saw for one target: per-probe RTTs (``None`` = lost) and extra events."""

    label: str
    rtts_us: list[int | None]
    duplicates: int = 0
    icmp_errors: list[str] = field(default_factory=list)


def quantise_us(us: int) -> int:
    """The value fping 5.x prints for ``us``, read back (round half up like printf on ints)."""
    if us < 1000:
        return us
    step = 10 if us < 10_000 else 100 if us < 100_000 else 1000
    return (us + step // 2) // step * step


def format_ms(us: int) -> str:
    """fping 5.x ``sprint_tm`` of an already quantised, non-negative RTT."""
    if us < 1000:
        return f"0.{us:03d}"
    if us < 10_000:
        return f"{us // 1000}.{us % 1000 // 10:02d}"
    if us < 100_000:
        return f"{us // 1000}.{us % 1000 // 100}"
    return str(us // 1000)


def random_label(rng: random.Random, i: int) -> str:
    kind = rng.random()
    if kind < 0.7:
        return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    if kind < 0.85:
        return f"fd00:200:{i >> 16:x}::{i & 0xFFFF:x}"
    return f"host-{i}.example.lab"


def random_targets(
    rng: random.Random, n: int, count: int, *, loss: float = 0.05, dup_rate: float = 0.02
) -> list[GenTarget]:
    """``n`` targets with ``count`` probes: mostly healthy, some lossy, a few down."""
    out: list[GenTarget] = []
    for i in range(n):
        base_us = int(rng.lognormvariate(9.0, 1.2))  # median ~8 ms, long tail
        state = rng.random()
        p_loss = 1.0 if state < 0.02 else 0.3 if state < 0.10 else loss / 4
        rtts: list[int | None] = []
        for _ in range(count):
            if rng.random() < p_loss:
                rtts.append(None)
            else:
                rtts.append(quantise_us(max(1, int(base_us * rng.uniform(0.8, 1.6)))))
        t = GenTarget(random_label(rng, i), rtts)
        if any(v is not None for v in rtts) and rng.random() < dup_rate:
            t.duplicates = rng.randint(1, 2)
        if p_loss == 1.0 and rng.random() < 0.5:
            t.icmp_errors = ["ICMP Host Unreachable from 10.255.0.1"] * rng.randint(1, 2)
        out.append(t)
    return out


def render(targets: list[GenTarget], mode: str = "C", *, quiet: bool = True) -> str:
    """fping output as ``> file 2>&1`` would hold it: per-probe lines (unless ``quiet``),
    duplicate and ICMP error lines, then ``-C`` value rows (``mode="C"``) or ``-c`` summaries.
    """
    pad = max((len(t.label) for t in targets), default=0)
    lines: list[str] = []
    for t in targets:
        label = t.label.ljust(pad)
        for msg in t.icmp_errors:
            lines.append(f"{msg} for ICMP Echo sent to {t.label}")
        if not quiet:
            got: list[int] = []
            for idx, us in enumerate(t.rtts_us):
                sent = idx + 1
                if us is None:
                    avg = format_ms(quantise_us(sum(got) // len(got))) if got else "NaN"
                    loss = (sent - len(got)) * 100 // sent
                    lines.append(f"{label} : [{idx}], timed out ({avg} avg, {loss}% loss)")
                else:
                    got.append(us)
                    avg = format_ms(quantise_us(sum(got) // len(got)))
                    loss = (sent - len(got)) * 100 // sent
                    lines.append(
                        f"{label} : [{idx}], 64 bytes, {format_ms(us)} ms ({avg} avg, {loss}% loss)"
                    )
        first = next((v for v in t.rtts_us if v is not None), None)
        for _ in range(t.duplicates if quiet and first is not None else 0):
            lines.append(f"{t.label} : duplicate for [0], 64 bytes, {format_ms(first or 0)} ms")
    if not quiet and targets:
        lines.append("")
    for t in targets:
        lines.append(_row(t, mode, pad))
    return "\n".join(lines) + "\n"


def _row(t: GenTarget, mode: str, pad: int) -> str:
    label = t.label.ljust(pad)
    if mode == "C":
        values = "".join(" -" if v is None else " " + format_ms(v) for v in t.rtts_us)
        return f"{label} :{values}"
    got = [v for v in t.rtts_us if v is not None]
    sent = len(t.rtts_us)
    head = f"{label} : xmt/rcv/%loss = {sent}/{len(got)}/{(sent - len(got)) * 100 // sent}%"
    if not got:
        return head
    return head + "".join(
        (
            ", min/avg/max = ",
            format_ms(min(got)),
            "/",
            format_ms(summary_avg_us(got)),
            "/",
            format_ms(max(got)),
        )
    )


def summary_avg_us(got: list[int]) -> int:
    """The avg fping prints in a summary (integer mean, then sprint_tm rounding)."""
    return quantise_us(sum(got) // len(got))


def fping_output(n_targets: int, count: int, mode: str = "C", *, seed: int = 1) -> str:
    """A seeded ``-C``/``-c`` quiet output of ``n_targets`` targets (benchmark input)."""
    return render(random_targets(random.Random(seed), n_targets, count), mode)


def synthetic_reports(
    n: int,
    *,
    count: int,
    sources: int = 1,
    targets: int = 100,
    start_ms: int = 1_700_000_040_000,
    start_of: Callable[[int], int] | None = None,
    tag: str = "r",
) -> list[MeasurementReport]:
    """``n`` reports round-robin over ``sources``, each probing the same ``targets`` addresses.

    Deterministic RTTs (5..20 ms) with about one probe in 17 lost. ``start_of(i)`` gives
    report ``i``'s start offset from ``start_ms`` (default: every report at ``start_ms``).
    """
    addresses = tuple(f"198.18.{t // 250}.{t % 250 + 1}" for t in range(targets))
    out = []
    for i in range(n):
        results = []
        for t, target in enumerate(addresses):
            rtts: list[int | None] = [
                None if (i + t + k) % 17 == 0 else 5_000 + 37 * ((i * 7 + t * 13 + k * 3) % 400)
                for k in range(count)
            ]
            received = sum(v is not None for v in rtts)
            results.append(TargetResult(target=target, sent=count, received=received, rtts_us=rtts))
        out.append(
            MeasurementReport(
                report_id=f"{tag}-{i:06d}",
                source=f"probe-{i % sources}",
                started_at_ms=start_ms + (start_of(i) if start_of else 0),
                spec=ProbeSpec(targets=addresses, count=count),
                results=results,
            )
        )
    return out
