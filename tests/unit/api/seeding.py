"""A small world with known measurements, and the exact answers computed from the raw data.

Catalogue data only uses documentation ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32);
nothing here sends a packet. Reports are ingested through the real use-case, then the tests
compare what the API answers with statistics computed here from every raw sample: counts,
min/max/mean/stddev/jitter exactly, percentiles against the exact type-7 quantile within the
sketch's 1 %.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from cloudperf_core import service
from cloudperf_core.api.context import ApiContext
from cloudperf_core.auth import mint_session_token, token_hash
from cloudperf_core.catalog import AddressRange, Group, Location, Probe, Role, User
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.stats import percentile

SYD = Location(
    name="AS64500 AU Sydney", country_code="AU", country_name="Australia", city="Sydney",
    asn=64500, asn_name="Example Transit",
)  # fmt: skip
MEL = Location(name="AS64501 AU Melbourne", country_code="AU", country_name="Australia",
               city="Melbourne", asn=64501, asn_name="Blue Sky")  # fmt: skip
NYC = Location(
    name="AS64500 US New York", country_code="US", country_name="United States",
    city="New York", asn=64500, asn_name="Example Transit",
)  # fmt: skip
AKL = Location(name="AS64502 NZ Auckland", country_code="NZ", country_name="New Zealand",
               city="Auckland", asn=64502)  # fmt: skip
TYO = Location(name="AS64509 JP Tokyo", country_code="JP", country_name="Japan", city="Tokyo",
               asn=64509)  # fmt: skip  # in the catalogue, never measured
LOCATIONS = [SYD, MEL, NYC, AKL, TYO]
RANGES = [
    AddressRange(start="192.0.2.0", end="192.0.2.127", location=SYD.name),
    AddressRange(start="192.0.2.128", end="192.0.2.255", location=MEL.name),
    AddressRange(start="198.51.100.0", end="198.51.100.255", location=NYC.name),
    AddressRange(start="2001:db8::", end="2001:db8::ffff", location=AKL.name),
    AddressRange(start="2001:db8:9::", end="2001:db8:9::ffff", location=TYO.name),
]
# Target -> its location (None: in no range, so never tagged).
TARGETS: dict[str, Location | None] = {
    "192.0.2.10": SYD,
    "192.0.2.11": SYD,
    "192.0.2.200": MEL,
    "198.51.100.5": NYC,
    "2001:db8::7": AKL,
    "203.0.113.9": None,
}
PROBES = {"syd-1": SYD.name, "nyc-1": NYC.name, "nyc-2": NYC.name}
GROUPS = {"anz": (SYD.name, MEL.name, AKL.name), "us": (NYC.name,)}
COUNT = 20  # probes per target per report
MINUTES = 12  # reports per probe, one a minute, ending ~5 minutes ago


@dataclass
class Batch:
    probe: str
    target: str
    start_s: int
    rtts_us: list[int | None]
    duplicates: int

    @property
    def window_s(self) -> int:
        """The start of the one-minute window the batch is stored in (what since/until
        select on)."""
        return self.start_s - self.start_s % 60


@dataclass
class World:
    now_ms: int
    batches: list[Batch] = field(default_factory=list)

    def where(
        self,
        *,
        probes: Collection[str] | None = None,
        targets: Collection[str] | None = None,
        since_s: int | None = None,
        until_s: int | None = None,
    ) -> list[Batch]:
        """The batches of these probes and targets stored in windows starting in
        ``[since_s, until_s)`` (None: any)."""
        return [
            b
            for b in self.batches
            if (probes is None or b.probe in probes)
            and (targets is None or b.target in targets)
            and (since_s is None or b.window_s >= since_s)
            and (until_s is None or b.window_s < until_s)
        ]

    def last_hour(self) -> int:
        return self.now_ms // 1000 - 3600


def targets_in(*locations: str) -> set[str]:
    """The seeded targets located in any of ``locations`` (names)."""
    return {t for t, loc in TARGETS.items() if loc is not None and loc.name in locations}


@dataclass
class Exact:
    sent: int
    received: int
    duplicates: int
    loss_ratio: float | None
    min_us: float | None
    mean_us: float | None
    max_us: float | None
    stddev_us: float | None
    jitter_us: float | None
    samples: list[int]

    def quantile_us(self, q: float) -> float:
        return percentile(self.samples, q)


def exact(batches: Iterable[Batch]) -> Exact:
    """Statistics of the raw samples of ``batches`` (jitter within each batch only)."""
    sent = received = duplicates = 0
    samples: list[int] = []
    jitter_sum = jitter_pairs = 0
    for b in batches:
        values = [v for v in b.rtts_us if v is not None]
        sent += len(b.rtts_us)
        received += len(values)
        duplicates += b.duplicates
        samples += values
        jitter_sum += sum(abs(y - x) for x, y in pairwise(values))
        jitter_pairs += max(len(values) - 1, 0)
    samples.sort()
    n = len(samples)
    mean = sum(samples) / n if n else None
    return Exact(
        sent=sent,
        received=received,
        duplicates=duplicates,
        loss_ratio=None if not sent else (sent - received) / sent,
        min_us=float(samples[0]) if n else None,
        mean_us=mean,
        max_us=float(samples[-1]) if n else None,
        stddev_us=None if mean is None else math.sqrt(sum((v - mean) ** 2 for v in samples) / n),
        jitter_us=jitter_sum / jitter_pairs if jitter_pairs else None,
        samples=samples,
    )


def close_ms(got_ms: float | None, want_us: float | None, *, rel: float = 1e-9) -> bool:
    """``got_ms`` (rounded to 1 µs by the API) is ``want_us`` within ``rel`` (+ rounding)."""
    if got_ms is None or want_us is None:
        return got_ms is None and want_us is None
    return abs(got_ms * 1000 - want_us) <= rel * want_us + 0.5 + 1e-6


def _rtts(rng: random.Random, base_us: int, loss: float) -> list[int | None]:
    # Long-tailed: mostly near the base, a few slow replies, some lost.
    out: list[int | None] = []
    for _ in range(COUNT):
        if rng.random() < loss:
            out.append(None)
        else:
            out.append(int(base_us * (1 + rng.expovariate(8))) + rng.randrange(0, 400))
    return out


def _base_us(probe: str, target: str) -> int:
    loc = TARGETS[target]
    far = loc is None or PROBES[probe] != loc.name
    return (150_000 if far else 2_000) + 1_000 * (sum(map(ord, target)) % 7)


async def seed(ctx: ApiContext, *, seed_value: int = 7) -> World:
    """Catalogue, groups, probes, and MINUTES reports per probe over every target (plus one
    report three hours old), ingested through ``service.ingest_reports``."""
    catalog = await ctx.services.catalog()
    store = await ctx.services.store()
    await catalog.put_locations(LOCATIONS)
    await catalog.put_ranges(RANGES)
    for name, members in GROUPS.items():
        await catalog.set_group(Group(name=name, locations=members))
    for probe_id, location in PROBES.items():
        await catalog.put_probe(
            Probe(probe_id=probe_id, token_hash="0" * 64, name=f"probe {probe_id}",
                  location=location)
        )  # fmt: skip
    rng = random.Random(seed_value)
    now_ms = ctx.clock.now_ms()
    world = World(now_ms=now_ms)
    starts_ms = [now_ms - (5 + m) * 60_000 for m in range(MINUTES)] + [now_ms - 3 * 3600_000]
    reports = []
    for probe in PROBES:
        for i, start_ms in enumerate(starts_ms):
            results = []
            for target in TARGETS:
                rtts = _rtts(rng, _base_us(probe, target), loss=0.1 if "nyc" in probe else 0.02)
                dups = rng.choice([0, 0, 0, 1, 2])
                received = sum(v is not None for v in rtts)
                results.append(
                    TargetResult(target=target, sent=COUNT, received=received,
                                 duplicates=dups, rtts_us=rtts)
                )  # fmt: skip
                world.batches.append(Batch(probe, target, start_ms // 1000, rtts, dups))
            reports.append(
                MeasurementReport(
                    report_id=f"{probe}-{i}", source=probe, started_at_ms=start_ms,
                    spec=ProbeSpec(targets=tuple(TARGETS), count=COUNT), results=results,
                )
            )  # fmt: skip
    outcome = await service.ingest_reports(store, reports, catalog=catalog, clock=ctx.clock)
    assert len(outcome.ingested) == len(reports)
    return world


async def session_headers(ctx: ApiContext, user: str, role: Role) -> dict[str, str]:
    """A user of ``role`` and a bearer header for a live session of theirs."""
    catalog = await ctx.services.catalog()
    await catalog.put_user(User(name=user, password_hash="unused", role=role))
    token = mint_session_token()
    await (await ctx.services.sessions()).create(token_hash(token), user, role, 3600)
    return {"authorization": f"Bearer {token}"}
