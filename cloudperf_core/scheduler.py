"""Pure planning for the scheduler: values in, jobs out, no I/O (the tick that feeds it is
:mod:`cloudperf_core.service.scheduling`).

- Time is cut into slots of ``tick_s``; job ids derive from (slot, source, destination or
  swept span), so planning the same slot twice yields the same ids and the job queue, which
  skips ids it holds, queues nothing new.
- Discovery: each due range is swept in chunks of at most ``discovery_chunk_hosts``
  addresses (never more than the runner accepts in one sweep), at most
  ``discovery_chunks_per_range`` chunks per range and round. A wider IPv4 range is covered a
  window at a time, the window chosen by the discovery round (``now // interval``), so
  successive rounds walk the whole range; an IPv6 range is swept in its first window only
  (sweeping a /64 is hopeless; low addresses are where routers and servers usually sit).
- Latency: a source location gets at most one job per live probe and tick, never more than
  it has room for under the back-pressure depth; each job measures up to N answering
  addresses of one destination location C times.
- Never probed, whatever the catalogue says: documentation ranges (RFC 5737, RFC 3849,
  RFC 9637), multicast, 0.0.0.0/8 and 240.0.0.0/4. The catalogue samples use documentation
  ranges so that a demo can never send them a packet.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudperf_core.catalog import (
    HISTORY_FOUND,
    AddressRange,
    ReachableAddress,
    address_key,
    range_bounds,
)
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.models import DiscoveryJob, DiscoverySpec, Job, ProbeSpec

if TYPE_CHECKING:
    from cloudperf_core.settings import ServiceSettings

__all__ = [
    "NEVER_PROBE",
    "DiscoveryPlan",
    "SourceState",
    "check_sizing",
    "choose_targets",
    "discovery_round",
    "discovery_runtime_s",
    "is_never_probed",
    "job_id",
    "latency_job",
    "latency_jobs_wanted",
    "latency_runtime_s",
    "latency_spec",
    "plan_discovery",
    "range_chunks",
    "slot_of",
]

NEVER_PROBE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "192.0.2.0/24",  # RFC 5737 TEST-NET-1
        "198.51.100.0/24",  # RFC 5737 TEST-NET-2
        "203.0.113.0/24",  # RFC 5737 TEST-NET-3
        "2001:db8::/32",  # RFC 3849
        "3fff::/20",  # RFC 9637
        "0.0.0.0/8",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "ff00::/8",  # multicast
    )
)
_NEVER_SPANS = sorted(
    (n.version, int(n.network_address), int(n.broadcast_address)) for n in NEVER_PROBE
)

# The runner's defaults (FpingRunner): targets per fping batch, batches at once, and the
# slack its deadlines allow. A unit test keeps them equal.
RUNNER_BATCH_TARGETS = 256
RUNNER_CONCURRENCY = 4
RUNNER_SLACK_S = 5.0


# --- time -------------------------------------------------------------------------------------


def slot_of(now_ms: int, tick_s: int) -> int:
    """The tick slot ``now_ms`` falls in."""
    return now_ms // (tick_s * 1000)


def discovery_round(now_ms: int, interval_s: int) -> int:
    """The discovery round ``now_ms`` falls in (which window of a wide range is swept)."""
    return now_ms // (interval_s * 1000)


def job_id(kind: str, slot: int, *parts: str) -> str:
    """``kind-slot-digest``: the same (kind, slot, parts) always give the same id."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]
    return f"{kind}-{slot}-{digest}"


# --- what may be probed -----------------------------------------------------------------------


def _allowed_spans(version: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi] minus every never-probed network of that IP version."""
    spans = [(lo, hi)]
    for v, first, last in _NEVER_SPANS:
        if v != version:
            continue
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if b < first or a > last:
                out.append((a, b))
                continue
            if a < first:
                out.append((a, first - 1))
            if b > last:
                out.append((last + 1, b))
        spans = out
    return spans


def is_never_probed(address: str) -> bool:
    """Whether ``address`` lies in a network no job may target (see the module doc)."""
    version, value = address_key(address)
    return not _allowed_spans(version, value, value)


# --- discovery --------------------------------------------------------------------------------


def range_chunks(
    r: AddressRange, *, chunk_hosts: int, max_chunks: int, round_no: int
) -> list[tuple[str, str]]:
    """The (start, end) spans a discovery round sweeps of ``r`` (see the module doc)."""
    version, lo_addr, hi_addr = range_bounds(r.start, r.end)
    lo, hi = int(lo_addr), int(hi_addr)
    window = chunk_hosts * max_chunks
    size = hi - lo + 1
    offset = 0
    if size > window and version == 4:
        offset = (round_no % -(-size // window)) * window
    first, last = lo + offset, min(hi, lo + offset + window - 1)
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    chunks: list[tuple[str, str]] = []
    for a, b in _allowed_spans(version, first, last):
        for start in range(a, b + 1, chunk_hosts):
            chunks.append((str(make(start)), str(make(min(b, start + chunk_hosts - 1)))))
    return chunks


@dataclass
class DiscoveryPlan:
    """Discovery jobs of one tick and the range starts to mark queued."""

    jobs: list[DiscoveryJob] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)  # every range taken (jobs or nothing)
    never_probed: list[str] = field(default_factory=list)  # taken without a job


def _stable_index(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % n


def plan_discovery(
    due: Sequence[AddressRange],
    room: Mapping[str, int],
    *,
    slot: int,
    now_ms: int,
    settings: ServiceSettings,
) -> DiscoveryPlan:
    """Discovery jobs for the due ranges, spread over the sources with room.

    Ranges are taken whole, in the order given, while any source has room left; each chunk
    goes to the source its span hashes to, or the next one (by name) that still has room,
    so one tick overshoots a source's room by less than one range's chunks. A range with
    nothing that may be probed is taken (marked queued) without a job, so it does not stay
    at the head of the due list.
    """
    plan = DiscoveryPlan()
    left = {name: n for name, n in sorted(room.items()) if n > 0}
    names = sorted(left)
    if not names:
        return plan
    round_no = discovery_round(now_ms, settings.discovery_interval_s)
    for r in due:
        if sum(left.values()) <= 0:
            break
        chunks = range_chunks(
            r,
            chunk_hosts=settings.discovery_chunk_hosts,
            max_chunks=settings.discovery_chunks_per_range,
            round_no=round_no,
        )
        plan.queued.append(r.start)
        if not chunks:
            plan.never_probed.append(r.start)
            continue
        for start, end in chunks:
            first = _stable_index(f"{start}-{end}", len(names))
            order = names[first:] + names[:first]
            source = next((n for n in order if left[n] > 0), order[0])
            left[source] -= 1
            spec = DiscoverySpec(start=start, end=end, max_hosts=settings.discovery_chunk_hosts)
            plan.jobs.append(
                DiscoveryJob(
                    job_id=job_id("disc", slot, source, start, end),
                    source=source,
                    spec=spec,
                    issued_at_ms=now_ms,
                )
            )
    return plan


# --- latency ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceState:
    """A source location as the tick sees it: its live probes and its queue depth."""

    name: str
    live_probes: int
    depth: int

    def room(self, backpressure_depth: int) -> int:
        return max(0, backpressure_depth - self.depth)


def latency_jobs_wanted(source: SourceState, destinations: int, backpressure_depth: int) -> int:
    """Jobs for one source this tick: one per live probe, within its room, and no more than
    there are destinations (a second job to the same one in a slot would be the same job)."""
    return max(0, min(source.live_probes, source.room(backpressure_depth), destinations))


def _ones(history: int) -> int:
    return bin(history).count("1")


def choose_targets(addresses: Sequence[ReachableAddress], n: int) -> list[str]:
    """Up to ``n`` addresses that answered their latest round, the steadiest first (most
    answered rounds, then the most recently seen), returned in address order; addresses no
    job may target are left out."""
    answered = [
        a for a in addresses if a.history & HISTORY_FOUND and not is_never_probed(a.address)
    ]
    answered.sort(key=lambda a: (-_ones(a.history), -a.last_seen_ms, address_key(a.address)))
    return sorted((a.address for a in answered[:n]), key=address_key)


def latency_spec(targets: Sequence[str], settings: ServiceSettings) -> ProbeSpec:
    return ProbeSpec(
        targets=tuple(targets),
        count=settings.latency_count,
        period_ms=settings.latency_period_ms,
        timeout_ms=settings.latency_timeout_ms,
    )


def latency_job(
    *,
    slot: int,
    source: str,
    destination: str,
    targets: Sequence[str],
    now_ms: int,
    settings: ServiceSettings,
) -> Job:
    return Job(
        job_id=job_id("lat", slot, source, destination),
        source=source,
        spec=latency_spec(targets, settings),
        issued_at_ms=now_ms,
    )


# --- sizing -----------------------------------------------------------------------------------


def latency_runtime_s(spec: ProbeSpec, n_targets: int | None = None) -> float:
    """How long the runner may take for ``spec`` (or its timing over ``n_targets``), by its
    pacing rule and deadlines: batches of 256 targets, up to 4 at a time, each sending at
    most one packet per ``k x interval``."""
    n = max(1, len(spec.targets) if n_targets is None else n_targets)
    batches = -(-n // RUNNER_BATCH_TARGETS)
    k = min(RUNNER_CONCURRENCY, batches)
    batch = min(n, RUNNER_BATCH_TARGETS)
    pace_ms = max(spec.period_ms, batch * k * spec.interval_ms)
    one_s = (spec.count * pace_ms + spec.timeout_ms) / 1000 + RUNNER_SLACK_S
    return -(-batches // k) * one_s


def discovery_runtime_s(spec: DiscoverySpec, hosts: int) -> float:
    """The runner's deadline for sweeping ``hosts`` addresses with ``spec``."""
    backoff = sum(1.5**attempt for attempt in range(spec.retries + 1))
    sweep_ms = hosts * spec.interval_ms * (spec.retries + 1) + spec.timeout_ms * backoff
    return sweep_ms / 1000 + RUNNER_SLACK_S


def check_sizing(settings: ServiceSettings) -> None:
    """Refuse settings whose jobs could outlive half their lease (the rest is margin for
    polling, reporting and clock skew): a job lapsing while it runs is run twice."""
    budget_s = settings.lease_s / 2
    latency_s = latency_runtime_s(latency_spec((), settings), settings.latency_targets)
    if latency_s > budget_s:
        raise BackendConfigError(
            f"a latency job ({settings.latency_targets} targets x {settings.latency_count} "
            f"probes every {settings.latency_period_ms} ms) may run {latency_s:.0f} s, more than "
            f"half the lease ({settings.lease_s} s): lower CLOUDPERF_LATENCY_TARGETS, "
            "CLOUDPERF_LATENCY_COUNT or CLOUDPERF_LATENCY_PERIOD_MS, or raise CLOUDPERF_LEASE_S"
        )
    sweep_s = discovery_runtime_s(DiscoverySpec(start=""), settings.discovery_chunk_hosts)
    if sweep_s > budget_s:
        raise BackendConfigError(
            f"a discovery chunk of {settings.discovery_chunk_hosts} addresses may run "
            f"{sweep_s:.0f} s, more than half the lease ({settings.lease_s} s): lower "
            "CLOUDPERF_DISCOVERY_CHUNK_HOSTS or raise CLOUDPERF_LEASE_S"
        )
