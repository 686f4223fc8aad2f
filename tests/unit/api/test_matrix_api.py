"""GET /v1/latency/matrix: the console's matrix, cell by cell against the raw samples, and its
pages (by source location, cut mid-row when over the byte budget) against one whole answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.paging import decode_cursor
from cloudperf_core.api.routes import matrix
from cloudperf_core.catalog import Probe
from tests.unit.api.seeding import (
    GROUPS,
    LOCATIONS,
    PROBES,
    World,
    close_ms,
    exact,
    targets_in,
)

Cell = tuple[str, str, int, int, int, float | None, float | None, float | None]


def cells_of(page: dict[str, Any]) -> list[Cell]:
    """The page's cells with their row and column keys resolved."""
    c = page["cells"]
    sources = [p["key"] for p in page["sources"]]
    dests = [p["key"] for p in page["dests"]]
    columns = ("sent", "received", "duplicates", "p50_ms", "p95_ms", "p99_ms")
    assert {len(c[name]) for name in ("source", "dest", *columns)} == {len(c["source"])}
    return [
        (sources[s], dests[d], *(c[name][i] for name in columns))
        for i, (s, d) in enumerate(zip(c["source"], c["dest"], strict=True))
    ]


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> tuple[list[Cell], list[dict[str, Any]]]:
    """Every cell, following the cursors; and the pages."""
    cells: list[Cell] = []
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        got = await client.get("/v1/latency/matrix", params=query, headers=headers)
        assert got.status_code == 200, got.text
        page = got.json()
        pages.append(page)
        cells += cells_of(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return cells, pages
        assert len(pages) < 500


def probes_at(location: str) -> set[str]:
    return {p for p, loc in PROBES.items() if loc == location}


async def test_cells_are_the_raw_samples_of_each_source_location_and_country(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    cells, pages = await walk(client, viewer, dest_by="country")
    assert len(pages) == 1 and pages[0]["dest_by"] == "country"
    by_key = {(s, d): rest for s, d, *rest in cells}
    countries = {loc.country_code for loc in LOCATIONS if targets_in(loc.name)}
    # Every probe location x every country measured, nothing for unlocated targets.
    assert set(by_key) == {(loc, cc) for loc in set(PROBES.values()) for cc in countries}
    for (source, country), (sent, received, dups, p50, p95, p99) in by_key.items():
        names = [loc.name for loc in LOCATIONS if loc.country_code == country]
        want = exact(
            world.where(
                probes=probes_at(source),
                targets=targets_in(*names),
                since_s=world.last_hour(),
            )
        )
        assert (sent, received, dups) == (want.sent, want.received, want.duplicates)
        for value, q in ((p50, 0.5), (p95, 0.95), (p99, 0.99)):
            assert close_ms(value, want.quantile_us(q), rel=0.01), (source, country, q)


async def test_the_matrix_agrees_with_the_latency_list_for_every_column_kind(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    for dest_by in ("location", "city", "asn", "country", "group"):
        cells, _ = await walk(client, viewer, dest_by=dest_by, since="2h")
        got = await client.get(
            "/v1/latency",
            params={"source_by": "probe_location", "dest_by": dest_by, "since": "2h",
                    "limit": "1000"},
            headers=viewer,
        )  # fmt: skip
        rows = [r for r in got.json()["items"] if r["source"] and r["dest"]]
        assert cells == [
            (r["source"], r["dest"], r["sent"], r["received"], r["duplicates"],
             r["p50_ms"], r["p95_ms"], r["p99_ms"])
            for r in rows
        ], dest_by  # fmt: skip
        if dest_by == "group":
            assert {d for _, d, *_ in cells} == set(GROUPS)


async def test_pages_by_source_location_walk_every_cell_once(
    ctx: ApiContext, client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    # A probe at a location with no data yet: its chunk is a page without cells.
    catalog = await ctx.services.catalog()
    await catalog.put_probe(
        Probe(probe_id="akl-1", token_hash="0" * 64, location=LOCATIONS[3].name)
    )
    whole, _ = await walk(client, viewer, dest_by="city")
    paged, pages = await walk(client, viewer, dest_by="city", sources="1")
    assert paged == whole
    assert len(pages) == 3  # one source location a page: SYD, NYC, then AKL without data
    assert [[s["key"] for s in p["sources"]] for p in pages] == [
        [PROBES["syd-1"]],
        [PROBES["nyc-1"]],
        [],
    ]
    assert pages[2]["cells"]["source"] == [] and pages[2]["next_cursor"] is None


async def test_a_page_over_the_byte_budget_ends_mid_row_and_the_next_resumes_after_it(
    client: httpx.AsyncClient,
    world: World,
    viewer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole, _ = await walk(client, viewer, dest_by="location")
    monkeypatch.setattr(matrix, "PAGE_BUDGET_BYTES", 60)  # about two cells a page
    paged, pages = await walk(client, viewer, dest_by="location")
    assert paged == whole
    assert len(pages) > len(whole) // 3
    cursors = [decode_cursor(p["next_cursor"], tuple[str, str | None]) for p in pages[:-1]]
    assert any(c is not None and c[1] is not None for c in cursors)  # cut inside a row


async def test_filters_narrow_rows_and_columns(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    nyc = PROBES["nyc-1"]
    cells, _ = await walk(client, viewer, dest_by="country", probe_location=nyc, country="AU")
    assert [(s, d) for s, d, *_ in cells] == [(nyc, "AU")]
    cells, _ = await walk(client, viewer, dest_by="country", since="10m")
    assert cells  # reports from 5 to 16 minutes ago: the newest ones only
    old, _ = await walk(client, viewer, dest_by="country", since="10m")
    everything, _ = await walk(client, viewer, dest_by="country", since="4h")
    assert sum(c[2] for c in old) < sum(c[2] for c in everything)


async def test_refusals(client: httpx.AsyncClient, world: World, viewer: dict[str, str]) -> None:
    assert (await client.get("/v1/latency/matrix")).status_code == 401
    for query in ({"dest_by": "target"}, {"sources": "0"}, {"cursor": "@@"}, {"since": "x"}):
        got = await client.get("/v1/latency/matrix", params=query, headers=viewer)
        assert got.status_code == 400, query
        assert set(got.json()) == {"error", "detail"}
