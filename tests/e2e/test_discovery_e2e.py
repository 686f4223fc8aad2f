"""``cloudperf discover`` over ranges whose every address is a namespace test host."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.testhosts import Impairment, TestNetwork

ANSWERS = Impairment()
SILENT = Impairment(silent=True)
# Network and broadcast positions are silent, so the answer does not depend on whether the
# range expansion skips them (fping -g does for CIDR).
PATTERN = [SILENT, ANSWERS, SILENT, ANSWERS, ANSWERS, SILENT, ANSWERS, SILENT]


@pytest.fixture(scope="module")
def block(testnet: TestNetwork) -> tuple[str, list[str], set[str]]:
    cidr, addrs = testnet.add_block(PATTERN)
    answering = {a for a, imp in zip(addrs, PATTERN, strict=True) if not imp.silent}
    return cidr, addrs, answering


def _discover(cloudperf: Callable[..., Any], *args: str) -> list[str]:
    alive = cloudperf("discover", *args, "--timeout-ms", "200", "--json").json()
    assert isinstance(alive, list)
    assert len(alive) == len(set(alive)), f"an address was reported twice: {alive}"
    return alive


def test_discover_cidr_finds_exactly_the_answering_hosts(
    block: tuple[str, list[str], set[str]], cloudperf: Callable[..., Any]
) -> None:
    cidr, _, answering = block
    assert ipaddress.ip_network(cidr).num_addresses == len(PATTERN)
    assert set(_discover(cloudperf, cidr)) == answering


def test_discover_start_end_range(
    block: tuple[str, list[str], set[str]], cloudperf: Callable[..., Any]
) -> None:
    _, addrs, answering = block
    first, last = addrs[2], addrs[5]  # silent .. silent, two answering inside
    inside = {a for a in answering if addrs.index(a) in range(2, 6)}
    assert len(inside) == 2
    assert set(_discover(cloudperf, f"{first}-{last}")) == inside


def test_discover_stops_at_max_hosts(
    block: tuple[str, list[str], set[str]], cloudperf: Callable[..., Any]
) -> None:
    cidr, _, answering = block
    alive = _discover(cloudperf, cidr, "--max-hosts", "2")
    assert len(alive) == 2, "four hosts answer; the cap must cut the list to two"
    assert set(alive) <= answering
