"""GET /v1/status: every figure is what the ports hold, counted independently here."""

from __future__ import annotations

import httpx

from cloudperf_core.api.context import ApiContext
from cloudperf_core.catalog import DiscoverySweep, Settings
from cloudperf_core.clock import minute_start_ms
from cloudperf_core.models import Job, ProbeSpec
from tests.unit.api.seeding import (
    LOCATIONS,
    NYC,
    PROBES,
    RANGES,
    SYD,
    TARGETS,
    seed,
    session_headers,
)

MINUTE_MS = 60_000


async def test_status_reports_what_the_ports_hold(
    client: httpx.AsyncClient, ctx: ApiContext
) -> None:
    world = await seed(ctx)
    now_ms = world.now_ms
    headers = await session_headers(ctx, "vera", "viewer")
    s = ctx.services
    catalog = await s.catalog()
    # Discovery: one sweep now (fresh), one two days ago (stale), one range queued since.
    await catalog.record_sweep(
        DiscoverySweep(
            report_id="a",
            start="192.0.2.0",
            end="192.0.2.127",
            found=("192.0.2.1", "192.0.2.2"),
            at_ms=now_ms,
        )
    )
    await catalog.record_sweep(DiscoverySweep(report_id="b", start="198.51.100.0",
                                              end="198.51.100.255", found=("198.51.100.1",),
                                              at_ms=now_ms - 2 * 86_400_000))  # fmt: skip
    await catalog.mark_ranges_queued(["198.51.100.0"], now_ms - 60_000)
    # Liveness: syd-1 a minute ago, nyc-1 ten minutes ago (offline), nyc-2 never.
    liveness = await s.liveness()
    await liveness.seen("syd-1", now_ms - 60_000)
    await liveness.seen("nyc-1", now_ms - 600_000)
    # Rates: reports in the last complete minute and ten minutes ago; the current minute is
    # still counting and not reported.
    counters = await s.counters()
    current = minute_start_ms(now_ms)
    await counters.hit("reports", current - MINUTE_MS, 7)
    await counters.hit("reports", current - 10 * MINUTE_MS, 8)
    await counters.hit("reports", current - 30 * MINUTE_MS, 100)  # outside the 15-minute mean
    await counters.hit("reports", current, 1000)
    await counters.hit("ingested", current - 2 * MINUTE_MS, 3)
    # Jobs: two queued for Sydney's probes; pause.
    spec = ProbeSpec(targets=("192.0.2.1",))
    await (await s.jobs()).issue(
        [Job(job_id=f"j{i}", source=SYD.name, spec=spec) for i in range(2)]
    )
    await catalog.put_settings(Settings(paused=True))
    # The reports queue: two reports waiting, one taken by a worker and not yet acknowledged.
    await (await s.reports()).send([b"r1", b"r2", b"r3"])
    await (await s.reports()).receive(1, 60)

    got = await client.get("/v1/status", headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["now_ms"] == now_ms and body["paused"] is True
    sizes = body["catalog"]
    assert (sizes["locations"], sizes["ranges"], sizes["probes"], sizes["groups"]) == (
        len(LOCATIONS), len(RANGES), len(PROBES), 2,
    )  # fmt: skip
    assert (sizes["ranges_fresh"], sizes["ranges_stale"], sizes["ranges_queued"]) == (
        1, len(RANGES) - 1, 1,
    )  # fmt: skip
    assert (sizes["addresses"], sizes["addresses_new"], sizes["addresses_stable"]) == (3, 3, 0)
    data = body["data"]
    assert data["since_s"] == now_ms // 1000 - 3600
    assert (data["sources"], data["pairs"]) == (len(PROBES), len(PROBES) * len(TARGETS))
    assert data["dest_locations"] == 4  # every location with a target; Tokyo has none
    assert body["probes_online"] == 1
    rates = {r["name"]: r for r in body["rates"]}
    assert set(rates) == {"reports", "jobs", "jobs_issued", "ingested"}
    reports = rates["reports"]
    assert reports["last_minute"] == 7 and reports["per_minute_15m"] == (7 + 8) / 15
    assert reports["minutes"] == [
        [current - 30 * MINUTE_MS, 100], [current - 10 * MINUTE_MS, 8], [current - MINUTE_MS, 7],
    ]  # fmt: skip
    assert rates["ingested"]["last_minute"] == 0 and rates["ingested"]["per_minute_15m"] == 3 / 15
    assert rates["jobs"] == {"name": "jobs", "last_minute": 0, "per_minute_15m": 0, "minutes": []}
    # Every location with enabled probes, by name.
    assert body["job_queues"] == [
        {"source": SYD.name, "depth": 2},
        {"source": NYC.name, "depth": 0},
    ]
    assert body["report_queue"] == {"waiting": 2, "in_flight": 1, "dead_letters": 0}
    assert (await client.get("/v1/status")).status_code == 401
