"""Pure scheduler planning: chunks, rotation of wide ranges, what is never probed, discovery
spread under back-pressure, target choice, job sizing against the lease."""

from __future__ import annotations

import inspect
import ipaddress

import msgspec
import pytest

from cloudperf_core.catalog import AddressRange, ReachableAddress
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.fping.argv import DEFAULT_MAX_RANGE_SIZE, validate_discovery_spec
from cloudperf_core.fping.runner import FpingRunner
from cloudperf_core.models import DiscoverySpec, ProbeSpec
from cloudperf_core.scheduler import (
    RUNNER_BATCH_TARGETS,
    RUNNER_CONCURRENCY,
    RUNNER_SLACK_S,
    SourceState,
    check_sizing,
    choose_targets,
    is_never_probed,
    job_id,
    latency_jobs_wanted,
    latency_runtime_s,
    plan_discovery,
    range_chunks,
)
from cloudperf_core.settings import MAX_DISCOVERY_CHUNK, ServiceSettings, settings_from_env

T0_MS = 1_700_000_000_000
DAY_MS = 86_400_000


def addresses(chunks: list[tuple[str, str]]) -> list[int]:
    out: list[int] = []
    for start, end in chunks:
        out.extend(range(int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end)) + 1))
    return out


def span(start: str, end: str) -> list[int]:
    return list(range(int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end)) + 1))


def test_a_small_range_is_swept_whole_in_chunks_the_runner_accepts() -> None:
    r = AddressRange(start="10.231.0.7", end="10.231.2.200", location="x")
    chunks = range_chunks(r, chunk_hosts=256, max_chunks=16, round_no=0)
    assert addresses(chunks) == span("10.231.0.7", "10.231.2.200")
    for start, end in chunks:
        assert len(span(start, end)) <= 256
        validate_discovery_spec(DiscoverySpec(start=start, end=end))


def test_a_wide_ipv4_range_is_covered_exactly_once_over_successive_rounds() -> None:
    r = AddressRange(start="10.231.0.0", end="10.231.9.255", location="x")  # 2560 addresses
    rounds = [range_chunks(r, chunk_hosts=100, max_chunks=5, round_no=n) for n in range(6)]
    # 500 addresses per round: 6 windows; round 6 starts over.
    assert all(len(addresses(c)) <= 500 for c in rounds)
    seen = [a for c in rounds for a in addresses(c)]
    assert sorted(seen) == span("10.231.0.0", "10.231.9.255")
    assert range_chunks(r, chunk_hosts=100, max_chunks=5, round_no=6) == rounds[0]


def test_a_wide_ipv6_range_is_swept_in_its_first_window_only() -> None:
    r = AddressRange(start="fd00:231::", end="fd00:231::ffff:ffff", location="x")
    for round_no in (0, 1, 7):
        chunks = range_chunks(r, chunk_hosts=256, max_chunks=4, round_no=round_no)
        assert addresses(chunks) == span("fd00:231::", "fd00:231::3ff")


@pytest.mark.parametrize(
    "start,end",
    [
        ("192.0.2.0", "192.0.2.255"),
        ("198.51.100.16", "198.51.100.31"),
        ("203.0.113.0", "203.0.113.255"),
        ("2001:db8::", "2001:db8::ffff"),
        ("224.0.0.1", "224.0.0.255"),
    ],
)
def test_documentation_and_multicast_ranges_yield_no_chunk(start: str, end: str) -> None:
    r = AddressRange(start=start, end=end, location="x")
    assert range_chunks(r, chunk_hosts=64, max_chunks=64, round_no=0) == []
    assert is_never_probed(start) and is_never_probed(end)


def test_a_range_around_a_documentation_net_is_clipped() -> None:
    r = AddressRange(start="192.0.1.250", end="192.0.3.5", location="x")
    chunks = range_chunks(r, chunk_hosts=256, max_chunks=16, round_no=0)
    assert addresses(chunks) == span("192.0.1.250", "192.0.1.255") + span("192.0.3.0", "192.0.3.5")
    assert not is_never_probed("192.0.3.0") and not is_never_probed("10.231.0.1")


def settings(**overrides: int) -> ServiceSettings:
    return msgspec.structs.replace(ServiceSettings(), **overrides)


def test_discovery_is_spread_over_sources_with_room_and_is_deterministic() -> None:
    due = [
        AddressRange(start="10.231.0.0", end="10.231.3.255", location="a"),  # 4 chunks
        AddressRange(start="2001:db8::", end="2001:db8::ff", location="doc"),  # nothing
        AddressRange(start="10.231.8.0", end="10.231.8.255", location="b"),  # 1 chunk
        AddressRange(start="10.231.9.0", end="10.231.9.255", location="c"),  # no room left
    ]
    room = {"fra": 3, "syd": 2, "full": 0}
    s = settings(discovery_chunk_hosts=256)
    plan = plan_discovery(due, room, slot=7, now_ms=T0_MS, settings=s)

    assert plan.queued == ["10.231.0.0", "2001:db8::", "10.231.8.0"]
    assert plan.never_probed == ["2001:db8::"]
    assert len(plan.jobs) == 5
    by_source = {src: sum(j.source == src for j in plan.jobs) for src in room}
    assert by_source == {"fra": 3, "syd": 2, "full": 0}
    assert sorted(addresses([(j.spec.start, j.spec.end or "") for j in plan.jobs])) == span(
        "10.231.0.0", "10.231.3.255"
    ) + span("10.231.8.0", "10.231.8.255")
    again = plan_discovery(due, room, slot=7, now_ms=T0_MS + 999, settings=s)
    assert [j.job_id for j in again.jobs] == [j.job_id for j in plan.jobs]
    later = plan_discovery(due, room, slot=8, now_ms=T0_MS + 60_000, settings=s)
    assert not {j.job_id for j in later.jobs} & {j.job_id for j in plan.jobs}


def test_a_range_is_taken_whole_even_past_the_room_and_nothing_without_sources() -> None:
    due = [AddressRange(start="10.231.0.0", end="10.231.3.255", location="a")]
    plan = plan_discovery(due, {"fra": 1}, slot=1, now_ms=T0_MS, settings=settings())
    assert len(plan.jobs) == 4 and {j.source for j in plan.jobs} == {"fra"}
    assert plan_discovery(due, {"fra": 0}, slot=1, now_ms=T0_MS, settings=settings()).queued == []
    assert plan_discovery(due, {}, slot=1, now_ms=T0_MS, settings=settings()).jobs == []


def test_latency_jobs_respect_back_pressure_probes_and_destinations() -> None:
    assert latency_jobs_wanted(SourceState("fra", live_probes=3, depth=0), 10, 20) == 3
    assert latency_jobs_wanted(SourceState("fra", live_probes=3, depth=19), 10, 20) == 1
    assert latency_jobs_wanted(SourceState("fra", live_probes=3, depth=20), 10, 20) == 0
    assert latency_jobs_wanted(SourceState("fra", live_probes=3, depth=99), 10, 20) == 0
    assert latency_jobs_wanted(SourceState("fra", live_probes=3, depth=0), 2, 20) == 2


def test_targets_are_the_steadiest_answering_addresses_never_documentation_ones() -> None:
    def a(address: str, history: int, seen: int = T0_MS) -> ReachableAddress:
        return ReachableAddress(address=address, history=history, last_seen_ms=seen)

    pool = [
        a("10.231.0.9", 0b1000),  # new
        a("10.231.0.3", 0b1111),  # stable
        a("10.231.0.4", 0b0111),  # silent in the latest round: not measured
        a("10.231.0.5", 0b1101, T0_MS - 5),
        a("10.231.0.6", 0b1101, T0_MS),
        a("192.0.2.1", 0b1111),  # documentation: never
        a("fd00:231::1", 0b1111),
    ]
    assert choose_targets(pool, 3) == ["10.231.0.3", "10.231.0.6", "fd00:231::1"]
    assert choose_targets(pool, 100) == [
        "10.231.0.3", "10.231.0.5", "10.231.0.6", "10.231.0.9", "fd00:231::1",
    ]  # fmt: skip
    assert choose_targets([a("10.231.0.4", 0b0111)], 5) == []


def test_job_ids_derive_from_slot_and_places_only() -> None:
    assert job_id("lat", 5, "fra", "syd") == job_id("lat", 5, "fra", "syd")
    ids = {job_id("lat", 5, "fra", "syd"), job_id("lat", 6, "fra", "syd")}
    ids |= {job_id("lat", 5, "syd", "fra"), job_id("lat", 5, "fr", "asyd")}
    assert len(ids) == 4


def test_the_sizing_rule_mirrors_the_runner_defaults() -> None:
    params = inspect.signature(FpingRunner.__init__).parameters
    assert params["max_targets_per_batch"].default == RUNNER_BATCH_TARGETS
    assert params["max_concurrency"].default == RUNNER_CONCURRENCY
    assert params["deadline_slack_s"].default == RUNNER_SLACK_S
    assert MAX_DISCOVERY_CHUNK == DEFAULT_MAX_RANGE_SIZE
    spec = ProbeSpec(targets=("10.231.0.1",) * 10, count=10, period_ms=1000, timeout_ms=1000)
    assert latency_runtime_s(spec) == 10 + 1 + RUNNER_SLACK_S
    # 1000 targets: 4 batches of up to 256 at once, each sending every 4 x 10 ms, so a round
    # over a batch takes 256 x 40 ms, longer than the period.
    assert latency_runtime_s(spec, 1000) == pytest.approx(10 * 10.24 + 1 + RUNNER_SLACK_S)


def test_settings_whose_jobs_outlive_half_the_lease_are_refused() -> None:
    check_sizing(ServiceSettings())  # the defaults fit
    with pytest.raises(BackendConfigError, match="CLOUDPERF_LATENCY_TARGETS"):
        settings_from_env({"CLOUDPERF_LATENCY_TARGETS": "5000"})
    with pytest.raises(BackendConfigError, match="CLOUDPERF_DISCOVERY_CHUNK_HOSTS"):
        settings_from_env({"CLOUDPERF_DISCOVERY_CHUNK_HOSTS": "4096", "CLOUDPERF_LEASE_S": "60"})
    assert settings_from_env({"CLOUDPERF_LATENCY_TARGETS": "5000", "CLOUDPERF_LEASE_S": "3600"})
    with pytest.raises(BackendConfigError):
        settings_from_env({"CLOUDPERF_DISCOVERY_CHUNK_HOSTS": str(DEFAULT_MAX_RANGE_SIZE + 1)})
