"""GET /v1/latency, /v1/latency/series and /v1/ip/{addr} against exact answers.

Known reports are ingested; every number the API answers is compared with statistics of the
raw samples: counts exactly, min/avg/max/stddev/jitter exactly (to the 1 µs the API keeps),
percentiles within the sketch's 1 % of the exact type-7 quantile.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudperf_core.api.context import ApiContext
from cloudperf_core.catalog import DiscoverySweep
from cloudperf_core.models import StatsQuery
from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.windows.series import SERIES_QUANTILES
from tests.unit.api.seeding import (
    GROUPS,
    MEL,
    PROBES,
    SYD,
    TARGETS,
    Exact,
    World,
    close_ms,
    exact,
    targets_in,
)

Row = dict[str, Any]
PERCENTILES = tuple((f"p{round(q * 100)}_ms", q) for q in (0.5, 0.7, 0.9, 0.95, 0.99))
HOUR_S = 3600


def assert_matches(row: Row, want: Exact) -> None:
    """The row's numbers are the raw samples' statistics."""
    assert (row["sent"], row["received"], row["duplicates"]) == (
        want.sent, want.received, want.duplicates,
    )  # fmt: skip
    assert want.loss_ratio is not None
    assert row["loss_ratio"] == pytest.approx(want.loss_ratio, abs=1e-6)
    for name, value in (
        ("min_ms", want.min_us), ("avg_ms", want.mean_us), ("max_ms", want.max_us),
        ("stddev_ms", want.stddev_us), ("jitter_ms", want.jitter_us),
    ):  # fmt: skip
        assert close_ms(row[name], value), (name, row[name], value)
    for name, q in PERCENTILES:
        assert close_ms(row[name], want.quantile_us(q), rel=0.01), (name, row[name], q)


async def get_rows(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[Row]:
    got = await client.get("/v1/latency", params={"limit": "1000", **params}, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["next_cursor"] is None
    rows: list[Row] = body["items"]
    return rows


async def test_pairs_match_the_raw_samples(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    rows = await get_rows(client, viewer, group_by="pair")
    assert len(rows) == len(PROBES) * len(TARGETS)
    for row in rows:
        pair = world.where(probes={row["source"]}, targets={row["dest"]}, since_s=world.last_hour())
        assert_matches(row, exact(pair))
        assert row["windows"] == 12 and row["source_name"] == f"probe {row['source']}"
    keys = [(r["source"], r["dest"]) for r in rows]
    assert keys == sorted(keys)  # rows come sorted by (source, dest)


@pytest.mark.parametrize(
    ("dest_by", "key_of"),
    [
        ("country", lambda loc: loc.country_code),
        ("city", lambda loc: f"{loc.country_code}/{loc.city}"),
        ("asn", lambda loc: f"AS{loc.asn}"),
        ("location", lambda loc: loc.name),
    ],
)
async def test_the_matrix_of_probe_locations_by_place(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str], dest_by: str, key_of: Any
) -> None:
    rows = await get_rows(client, viewer, source_by="probe_location", dest_by=dest_by)

    def dest_of(target: str) -> str | None:
        loc = TARGETS[target]
        return None if loc is None else str(key_of(loc))

    expected_keys = {(p, dest_of(t)) for p in PROBES.values() for t in TARGETS}
    assert {(r["source"], r["dest"]) for r in rows} == expected_keys
    for row in rows:
        probes = {p for p, at in PROBES.items() if at == row["source"]}
        targets = {t for t in TARGETS if dest_of(t) == row["dest"]}
        assert_matches(
            row, exact(world.where(probes=probes, targets=targets, since_s=world.last_hour()))
        )
    named = {r["dest"]: r["dest_name"] for r in rows}
    if dest_by == "country":
        assert named["AU"] == "Australia" and named[None] is None
    if dest_by == "asn":
        assert named["AS64500"] == "Example Transit"


async def test_groups_count_a_location_in_each_of_its_groups(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    rows = await get_rows(client, viewer, source_by="none", dest_by="group")
    assert [r["dest"] for r in rows] == ["anz", "us", None]  # nulls last
    for row in rows[:2]:
        targets = targets_in(*GROUPS[row["dest"]])
        assert_matches(row, exact(world.where(targets=targets, since_s=world.last_hour())))


SYDNEY = {"192.0.2.10", "192.0.2.11"}
AU = (SYD.name, MEL.name)


@pytest.mark.parametrize(
    ("params", "probes", "targets"),
    [
        ([("country", "au")], None, {*SYDNEY, "192.0.2.200"}),
        ([("city", "AU/Sydney")], None, SYDNEY),
        ([("asn", "AS64500")], None, {*SYDNEY, "198.51.100.5"}),
        ([("asn", "64502")], None, {"2001:db8::7"}),
        ([("group", "us")], None, {"198.51.100.5"}),
        ([("probe", "nyc-2")], {"nyc-2"}, None),
        ([("probe_location", "AS64500 US New York"), ("target", "203.0.113.9")],
         {"nyc-1", "nyc-2"}, {"203.0.113.9"}),
        ([("country", "NZ"), ("country", "US")], None, {"2001:db8::7", "198.51.100.5"}),
    ],
)  # fmt: skip
async def test_filters_select_exactly_their_windows(
    client: httpx.AsyncClient,
    world: World,
    viewer: dict[str, str],
    params: list[tuple[str, str]],
    probes: set[str] | None,
    targets: set[str] | None,
) -> None:
    got = await client.get("/v1/latency", params=[*params, ("group_by", "overall")], headers=viewer)
    assert got.status_code == 200, got.text
    [row] = got.json()["items"]
    assert_matches(
        row, exact(world.where(probes=probes, targets=targets, since_s=world.last_hour()))
    )


async def test_time_ranges(client: httpx.AsyncClient, world: World, viewer: dict[str, str]) -> None:
    now_s = world.now_ms // 1000
    cases: list[tuple[dict[str, str], int | None, int | None]] = [
        ({"since": "4h"}, None, None),
        ({"since": str(now_s - 4 * HOUR_S), "until": "2h"}, None, now_s - 2 * HOUR_S),
        ({"since": "10m"}, now_s - 600, None),
        ({"since": "1h30m", "until": str(now_s)}, now_s - 5400, None),
    ]
    for params, since_s, until_s in cases:
        [row] = await get_rows(client, viewer, group_by="overall", **params)
        assert_matches(row, exact(world.where(since_s=since_s, until_s=until_s)))
        body = (await client.get("/v1/latency", params={"group_by": "overall", **params},
                                 headers=viewer)).json()  # fmt: skip
        assert body["until_s"] - body["since_s"] > 0
    empty = await get_rows(client, viewer, since="2m", group_by="overall")
    assert empty == []


@pytest.mark.parametrize(
    "params",
    [
        {"since": "3x"},
        {"since": "1h", "until": "2h"},  # until before since
        {"until": "-5"},
        {"group_by": "planet"},
        {"group_by": "pair", "dest_by": "country"},
        {"source_by": "target"},
        {"asn": "ASX"},
        {"limit": "0"},
        {"limit": "1001"},
        {"cursor": "not-a-cursor"},
        {"colour": "blue"},
    ],
)
async def test_bad_parameters_are_400(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str], params: dict[str, str]
) -> None:
    got = await client.get("/v1/latency", params=params, headers=viewer)
    assert got.status_code == 400, got.text
    assert got.json()["error"] in ("invalid_query", "invalid_cursor")


async def test_pages_walk_every_row_once(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    everything = await get_rows(client, viewer, group_by="pair")
    walked: list[Row] = []
    cursor = None
    while True:
        params = {"group_by": "pair", "limit": "4", **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/latency", params=params, headers=viewer)).json()
        assert len(body["items"]) <= 4
        walked += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == everything


async def test_viewers_only(client: httpx.AsyncClient, world: World) -> None:
    for path in ("/v1/latency", "/v1/latency/series", "/v1/ip/192.0.2.10"):
        got = await client.get(path)
        assert got.status_code == 401 and got.json()["error"] == "unauthenticated"


# --- series ---------------------------------------------------------------------------------


async def test_a_series_merges_sketches_per_step(
    client: httpx.AsyncClient, ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    params = {"probe": "syd-1", "target": "192.0.2.10", "since": "1h"}
    got = await client.get("/v1/latency/series", params=params, headers=viewer)
    assert got.status_code == 200, got.text
    body = got.json()
    now_s = world.now_ms // 1000
    # An hour in one-minute steps (the stored windows' length), widened to whole minutes.
    assert body["step_s"] == 60
    assert body["since_s"] == (now_s - HOUR_S) // 60 * 60
    assert body["until_s"] == -(-now_s // 60) * 60
    points = body["points"]
    assert [p["start_s"] for p in points] == list(range(body["since_s"], body["until_s"], 60))
    store = await ctx.services.store()
    windows = await store.fetch_windows(StatsQuery(sources=("syd-1",), targets=("192.0.2.10",)))
    with_data = [p for p in points if p["windows"]]
    assert len(with_data) == 12
    for point in points:
        start = point["start_s"]
        batches = world.where(
            probes={"syd-1"}, targets={"192.0.2.10"}, since_s=start, until_s=start + 60
        )
        if not batches:
            assert point["sent"] == 0 and point["p50_ms"] is None and point["loss_ratio"] is None
            continue
        want = exact(batches)
        assert (point["sent"], point["received"], point["duplicates"]) == (
            want.sent, want.received, want.duplicates,
        )  # fmt: skip
        assert close_ms(point["min_ms"], want.min_us) and close_ms(point["max_ms"], want.max_us)
        # The sketches merged by hand give the same percentiles, and they are within 1 %
        # of the exact quantiles of the raw samples.
        by_hand = LatencySketch()
        for w in windows:
            if point["start_s"] <= w.window_start_s < point["start_s"] + 60:
                by_hand.merge(LatencySketch.from_bytes(w.sketch))
        quantiles = by_hand.quantiles([q for _, q in SERIES_QUANTILES])
        for (name, q), value in zip(SERIES_QUANTILES, quantiles, strict=True):
            field = name.replace("_us", "_ms")
            assert point[field] == round(value / 1000, 3)
            assert close_ms(point[field], want.quantile_us(q), rel=0.01), (field, q)


async def test_a_coarser_step_pools_minutes(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    # A day (288 points of 5 minutes), then an explicit 15-minute step over 4 hours.
    day = (await client.get("/v1/latency/series", params={"since": "1d"}, headers=viewer)).json()
    assert day["step_s"] == 300 and len(day["points"]) in (288, 289)
    params = {"since": "4h", "step": "900", "country": "AU"}
    body = (await client.get("/v1/latency/series", params=params, headers=viewer)).json()
    assert body["step_s"] == 900 and body["since_s"] % 900 == 0
    total = 0
    for point in body["points"]:
        start = point["start_s"]
        batches = world.where(targets=targets_in(*AU), since_s=start, until_s=start + 900)
        total += len(batches)
        if batches:
            want = exact(batches)
            assert point["sent"] == want.sent and point["received"] == want.received
            for name, q in SERIES_QUANTILES:
                assert close_ms(point[name.replace("_us", "_ms")], want.quantile_us(q), rel=0.01)
    assert total == len(world.where(targets=targets_in(*AU)))
    # Too many points for an explicit step: refused, not truncated.
    many = {"since": "30d", "step": "60"}
    got = await client.get("/v1/latency/series", params=many, headers=viewer)
    assert got.status_code == 400 and "points" in got.json()["detail"]


# --- one address ----------------------------------------------------------------------------


async def test_an_address_with_its_location_history_and_latency(
    client: httpx.AsyncClient, ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    catalog = await ctx.services.catalog()
    sweep = DiscoverySweep(report_id="sw1", start="192.0.2.0", end="192.0.2.127",
                           found=("192.0.2.9", "192.0.2.10"), at_ms=world.now_ms)  # fmt: skip
    assert await catalog.record_sweep(sweep)
    body = (await client.get("/v1/ip/192.0.2.10", headers=viewer)).json()
    assert body["location"]["name"] == "AS64500 AU Sydney" and body["ip_version"] == 4
    assert (body["reachability"], body["history"], body["last_seen_ms"]) == ("new", 8, world.now_ms)
    assert [r["source"] for r in body["latency"]] == sorted(PROBES)
    for row in body["latency"]:
        pair = world.where(
            probes={row["source"]}, targets={"192.0.2.10"}, since_s=world.last_hour()
        )
        assert_matches(row, exact(pair))
    # In a range but never found; in no range; IPv6 in canonical form; not an address.
    body = (await client.get("/v1/ip/192.0.2.11", headers=viewer)).json()
    assert body["location"]["city"] == "Sydney" and body["reachability"] is None
    body = (await client.get("/v1/ip/203.0.113.9", headers=viewer)).json()
    assert body["location"] is None and len(body["latency"]) == len(PROBES)
    body = (await client.get("/v1/ip/2001:DB8:0::7", headers=viewer)).json()
    assert body["address"] == "2001:db8::7" and body["location"]["country_code"] == "NZ"
    got = await client.get("/v1/ip/not-an-ip", headers=viewer)
    assert got.status_code == 400 and got.json()["error"] == "invalid"
