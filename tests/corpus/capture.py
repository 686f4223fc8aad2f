"""Re-capture the fping 5.1 corpus in this directory against namespace test hosts.

Run as root: ``python -m tests.corpus.capture`` (writes NAME.out + NAME.expected.json).

The expected values are NOT produced by cloudperf's parser: each capture states what the hosts
were configured to do, and the expected file is built from that plus a by-hand token count of
the raw text (a ``-`` is a lost probe, a ``duplicate for`` line is one duplicate), with sanity
checks that the observation agrees with the configuration (silent => all lost, loss within
4 binomial sigmas, ...). Re-capturing changes addresses and RTTs; commit the new pair together.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.testhosts import Impairment, TestNetwork

HERE = Path(__file__).resolve().parent
FPING_VERSION = "5.1"
_LABEL = re.compile(r"^(?P<label>\S+) +: (?P<rest>.*)$")


def _target(name: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target": name,
        "sent": None,
        "received": None,
        "loss_ratio": None,
        "rtts_ms": None,
        "duplicates": 0,
        "errors": [],
    }
    base.update(fields)
    return base


def _loss(sent: int, received: int) -> float:
    return round((sent - received) / sent, 4)


def _dups(lines: list[str], label: str) -> int:
    return sum(1 for ln in lines if ln.startswith(f"{label} : duplicate for ["))


def expect_vcount_q(lines: list[str], targets: list[str]) -> list[dict[str, Any]]:
    """-C N -q: one value line per target; '-' is a lost probe."""
    out = []
    for label in targets:
        (row,) = [m for ln in lines if (m := _LABEL.match(ln)) and m["label"] == label
                  and "duplicate for" not in m["rest"] and "xmt/rcv" not in m["rest"]]  # fmt: skip
        tokens = row["rest"].split()
        rtts = [None if t == "-" else float(t) for t in tokens]
        received = sum(v is not None for v in rtts)
        out.append(_target(label, sent=len(tokens), received=received,
                           loss_ratio=_loss(len(tokens), received), rtts_ms=rtts,
                           duplicates=_dups(lines, label)))  # fmt: skip
    return out


def expect_count(lines: list[str], targets: list[str], *, per_probe: bool) -> list[dict[str, Any]]:
    """-c N (quiet or not): the summary row gives xmt/rcv and min/avg/max."""
    out = []
    for label in targets:
        summary = [ln for ln in lines if ln.startswith(f"{label} ") and "xmt/rcv" in ln]
        (row,) = summary
        xmt, rcv = (int(x) for x in row.split("= ")[1].split("/")[:2])
        fields: dict[str, Any] = {}
        if "min/avg/max" in row:
            lo, avg, hi = (float(x) for x in row.rsplit("= ", 1)[1].split("/"))
            fields = {"min_ms": lo, "avg_ms": avg, "max_ms": hi}
        rtts: list[float | None] | None = None
        if per_probe:
            rtts = [None] * xmt
            for ln in lines:
                m = re.match(rf"^{re.escape(label)} +: \[(\d+)\], \d+ bytes, ([\d.]+) ms", ln)
                if m:
                    rtts[int(m[1])] = float(m[2])
        out.append(_target(label, sent=xmt, received=rcv, loss_ratio=_loss(xmt, rcv),
                           rtts_ms=rtts, duplicates=_dups(lines, label), **fields))  # fmt: skip
    return out


def expect_alive(lines: list[str], alive: list[str]) -> list[dict[str, Any]]:
    """-a: the listed addresses are the alive ones, in output order."""
    assert [ln.strip() for ln in lines if ln.strip()] == alive, (lines, alive)
    return [_target(a) for a in alive]


def save(name: str, argv: list[str], targets: list[dict[str, Any]], output: str, rc: int) -> None:
    (HERE / f"{name}.out").write_text(output)
    doc = {
        "command": " ".join(argv),
        "fping_version": FPING_VERSION,
        "exit_code": rc,
        "targets": targets,
        "unparsed": [],
    }
    (HERE / f"{name}.expected.json").write_text(json.dumps(doc, indent=1) + "\n")


def run(argv: list[str]) -> tuple[str, int]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.stdout, proc.returncode


def within_sigmas(lost: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(lost - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def main() -> int:
    with TestNetwork(seed=2024) as net:
        plain = net.add_host()
        lossy = net.add_host(loss=0.25)
        silent = net.add_host(silent=True)
        slow = net.add_host(delay_ms=30, jitter_ms=5)
        dup = net.add_host(dup=0.3)
        late = net.add_host(delay_ms=150)
        plain6 = net.add_host(family=6)

        # 1. 200 probes at 25 % loss, SmokePing-style.
        argv = ["fping", "-C", "200", "-q", "-p", "10", "-t", "500", lossy]
        text, rc = run(argv)
        exp = expect_vcount_q(text.splitlines(), [lossy])
        lost = exp[0]["sent"] - exp[0]["received"]
        assert exp[0]["sent"] == 200 and within_sigmas(lost, 200, 0.25), lost
        save("cpt51_loss25_C200_q", argv, exp, text, rc)

        # 2. Mixed -C -q: plain, lossy, silent (all '-'), delayed, IPv6.
        targets = [plain, lossy, silent, slow, plain6]
        argv = ["fping", "-C", "10", "-q", "-p", "20", "-t", "500", *targets]
        text, rc = run(argv)
        exp = expect_vcount_q(text.splitlines(), targets)
        assert exp[2]["received"] == 0 and rc == 1
        assert all(25.0 <= v <= 36.0 for v in exp[3]["rtts_ms"] if v is not None)
        save("cpt51_mixed_C10_q", argv, exp, text, rc)

        # 3. Duplicates with -C -q: reported on stderr as "duplicate for", never as received.
        argv = ["fping", "-C", "20", "-q", "-p", "20", "-t", "500", dup]
        text, rc = run(argv)
        exp = expect_vcount_q(text.splitlines(), [dup])
        assert exp[0]["received"] == 20 and exp[0]["duplicates"] > 0
        save("cpt51_dup_C20_q", argv, exp, text, rc)

        # 4. Duplicates with -c -q: summary counts each probe once.
        argv = ["fping", "-c", "20", "-q", "-p", "20", "-t", "500", dup, lossy]
        text, rc = run(argv)
        exp = expect_count(text.splitlines(), [dup, lossy], per_probe=False)
        assert exp[0]["received"] == 20 and exp[0]["duplicates"] > 0
        save("cpt51_dup_c20_q", argv, exp, text, rc)

        # 5. Reply later than the period, inside the timeout: received, not lost.
        argv = ["fping", "-C", "6", "-q", "-p", "50", "-t", "1000", late]
        text, rc = run(argv)
        exp = expect_vcount_q(text.splitlines(), [late])
        assert exp[0]["received"] == 6 and min(exp[0]["rtts_ms"]) >= 150.0
        save("cpt51_late_C6_q", argv, exp, text, rc)

        # 6. Non-quiet -c: per-probe reply and "timed out" lines plus the summary.
        targets = [plain, lossy, silent]
        argv = ["fping", "-c", "8", "-p", "20", "-t", "300", *targets]
        text, rc = run(argv)
        exp = expect_count(text.splitlines(), targets, per_probe=True)
        assert exp[2]["received"] == 0
        save("cpt51_mixed_c8", argv, exp, text, rc)

        # 7. Discovery over a /29 where every address is ours; half of them silent.
        answering: list[dict[str, Any]] = [
            {}, {"silent": True}, {}, {}, {"silent": True}, {}, {}, {"silent": True},
        ]  # fmt: skip
        cidr, addrs = net.add_block([Impairment(**a) for a in answering])
        argv = ["fping", "-a", "-r", "1", "-t", "200", "-g", cidr]
        text, rc = run(argv)
        # fping -g on a CIDR skips the network and broadcast addresses (first and last).
        alive = [a for i, (a, imp) in enumerate(zip(addrs, answering, strict=True))
                 if 0 < i < len(addrs) - 1 and not imp.get("silent")]  # fmt: skip
        save("cpt51_gen_cidr_a", argv, expect_alive(text.splitlines(), alive), text, rc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
