"""The test hosts themselves, checked with raw fping (no cloudperf code involved).

If these fail, the cloudperf e2e failures next to them are about the fixture, not the product.
"""

from __future__ import annotations

import math
import subprocess

import pytest

from tests.support.testhosts import PREFIX, TestNetwork, cleanup_stale

SLACK_MS = 25.0  # one scheduling hiccup of a busy machine; the lower bounds are exact


def fping(*args: str) -> tuple[int, str]:
    """Run fping with stdout and stderr merged, as ``2>&1`` would."""
    proc = subprocess.run(
        ["fping", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60
    )
    return proc.returncode, proc.stdout


def values(output: str, addr: str) -> list[str]:
    """The ``-C`` value tokens printed for ``addr``."""
    (line,) = [
        ln for ln in output.splitlines() if ln.startswith(f"{addr} ") and "duplicate" not in ln
    ]
    return line.split(" :", 1)[1].split()


def test_loss_host_drops_about_the_configured_share(testnet: TestNetwork) -> None:
    addr = testnet.add_host(loss=0.25)
    _, out = fping("-C", "200", "-q", "-p", "10", "-t", "500", addr)
    tokens = values(out, addr)
    lost = tokens.count("-")
    assert len(tokens) == 200
    assert abs(lost - 50) <= 4 * math.sqrt(200 * 0.25 * 0.75), lost


def test_duplicate_and_delay_and_silent_hosts(testnet: TestNetwork) -> None:
    dup = testnet.add_host(dup=1.0)
    slow = testnet.add_host(delay_ms=40)
    silent = testnet.add_host(silent=True)
    rc, out = fping("-C", "5", "-q", "-p", "20", "-t", "500", dup, slow, silent)
    assert rc == 1  # some target (the silent one) had no reply
    assert out.count(f"{dup} : duplicate for [") == 5
    assert "-" not in values(out, dup)
    assert all(40.0 <= float(v) <= 40.0 + SLACK_MS for v in values(out, slow))
    assert values(out, silent) == ["-"] * 5
    # A reply from any other address than the probed one is flagged by fping as "[<- addr]".
    assert "[<-" not in out


def test_ipv6_host_answers_once_from_the_responder(testnet: TestNetwork) -> None:
    if not testnet.ipv6:
        pytest.skip("IPv6 could not be enabled in the test namespace")
    slow6 = testnet.add_host(family=6, delay_ms=20)
    silent6 = testnet.add_host(family=6, silent=True)
    _, out = fping("-C", "5", "-q", "-p", "20", "-t", "500", slow6, silent6)
    # The namespace kernel's own echo reply would arrive first (< 20 ms) and the responder's
    # would then be a duplicate: neither may happen.
    assert "duplicate" not in out and "[<-" not in out
    assert all(20.0 <= float(v) <= 20.0 + SLACK_MS for v in values(out, slow6))
    assert values(out, silent6) == ["-"] * 5


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split(" ", 1)[0] for line in out.splitlines()]


def test_namespaces_are_removed_on_close_and_stale_ones_on_start(testnet: TestNetwork) -> None:
    with TestNetwork() as net:
        name = net.name
        assert name != testnet.name
        net.add_host()
        assert name in namespaces()
    assert name not in namespaces()
    assert testnet.name in namespaces(), "closing one network must not touch another"

    # A namespace left by a process that no longer exists is swept away.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{PREFIX}{dead.pid}x0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in cleanup_stale()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)
    assert stale not in namespaces()
