"""Search, countries / cities / ASNs (all, or only those with data), and groups."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudperf_core.api.context import ApiContext
from tests.unit.api.seeding import AKL, MEL, NYC, SYD, TYO, World, session_headers


@pytest.fixture
async def operator(ctx: ApiContext) -> dict[str, str]:
    return await session_headers(ctx, "otto", "operator")


async def walk(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str
) -> list[Any]:
    """Every item of a paged list, following next_cursor."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        got = await client.get(path, params=query, headers=headers)
        assert got.status_code == 200, got.text
        body = got.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_search_by_words_and_by_address(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    async def names(q: str, **params: str) -> list[str]:
        return [loc["name"] for loc in await walk(client, "/v1/search", viewer, q=q, **params)]

    assert await names("sydney") == [SYD.name]
    assert await names("AS64500") == [SYD.name, NYC.name]
    assert await names("example transit york") == [NYC.name]
    assert await names("australia", limit="1") == [SYD.name, MEL.name]  # paged by name
    assert await names("2001:db8::7") == [AKL.name]  # an address finds its location
    assert await names("203.0.113.1") == []
    [syd] = (await client.get("/v1/search", params={"q": "sydney"}, headers=viewer)).json()["items"]
    assert syd == {
        "name": SYD.name, "country_code": "AU", "country_name": "Australia", "city": "Sydney",
        "asn": 64500, "asn_name": "Example Transit", "latitude": None, "longitude": None,
    }  # fmt: skip
    for bad in ({}, {"q": ""}, {"q": "a b c d e f g h i"}, {"q": "x", "cursor": "%%"}):
        got = await client.get("/v1/search", params=bad, headers=viewer)
        assert got.status_code == 400, (bad, got.text)


@pytest.mark.parametrize(
    ("path", "everything", "with_data"),
    [
        ("/v1/countries", ["AU", "JP", "NZ", "US"], ["AU", "NZ", "US"]),
        ("/v1/cities", ["AU/Melbourne", "AU/Sydney", "JP/Tokyo", "NZ/Auckland", "US/New York"],
         ["AU/Melbourne", "AU/Sydney", "NZ/Auckland", "US/New York"]),
        ("/v1/asns", ["AS64500", "AS64501", "AS64502", "AS64509"],
         ["AS64500", "AS64501", "AS64502"]),
    ],
)  # fmt: skip
async def test_places_all_or_with_data(
    client: httpx.AsyncClient,
    world: World,
    viewer: dict[str, str],
    path: str,
    everything: list[str],
    with_data: list[str],
) -> None:
    for limit in ("1", "2", "100"):
        assert [p["key"] for p in await walk(client, path, viewer, limit=limit)] == everything
        measured = await walk(client, path, viewer, limit=limit, with_data="true")
        assert [p["key"] for p in measured] == with_data
    # No data in the last minute; the three-hour-old report alone reaches every one.
    assert await walk(client, path, viewer, with_data="true", since="1m") == []
    old = await walk(client, path, viewer, with_data="true", since="4h", until="2h")
    assert [p["key"] for p in old] == with_data


async def test_place_details(
    client: httpx.AsyncClient, world: World, viewer: dict[str, str]
) -> None:
    countries = {p["key"]: p for p in await walk(client, "/v1/countries", viewer)}
    assert countries["AU"] == {
        "kind": "country", "key": "AU", "name": "Australia", "country_code": None, "locations": 2,
    }  # fmt: skip
    asns = {p["key"]: p for p in await walk(client, "/v1/asns", viewer)}
    assert (asns["AS64500"]["name"], asns["AS64500"]["locations"]) == ("Example Transit", 2)
    cities = {p["key"]: p for p in await walk(client, "/v1/cities", viewer)}
    assert (cities["JP/Tokyo"]["name"], cities["JP/Tokyo"]["country_code"]) == (TYO.city, "JP")
    got = await client.get("/v1/asns", params={"cursor": "bm90IGEga2V5"}, headers=viewer)
    assert got.status_code == 400


async def test_groups_are_read_by_viewers_and_written_by_operators(
    client: httpx.AsyncClient,
    world: World,
    viewer: dict[str, str],
    operator: dict[str, str],
) -> None:
    listed = await walk(client, "/v1/groups", viewer, limit="1")
    assert listed == [{"name": "anz", "locations": 3}, {"name": "us", "locations": 1}]
    members = await walk(client, "/v1/groups/anz", viewer, limit="2")
    assert members == sorted([SYD.name, MEL.name, AKL.name])
    body = {"locations": [TYO.name, NYC.name, TYO.name]}
    got = await client.put("/v1/groups/pacific rim", json=body, headers=viewer)
    assert got.status_code == 403
    got = await client.put("/v1/groups/pacific rim", json=body, headers=operator)
    assert got.json() == {"name": "pacific rim", "locations": 2}
    assert await walk(client, "/v1/groups/pacific rim", viewer) == [NYC.name, TYO.name]
    # Replaced, not merged; the new group filters queries at once.
    got = await client.put(
        "/v1/groups/pacific rim", json={"locations": [AKL.name]}, headers=operator
    )
    assert got.json()["locations"] == 1
    rows = await client.get(
        "/v1/latency", params={"group": "pacific rim", "group_by": "target"}, headers=viewer
    )
    assert [r["dest"] for r in rows.json()["items"]] == ["2001:db8::7"]
    unknown = {"locations": [SYD.name, "Atlantis", "El Dorado"]}
    got = await client.put("/v1/groups/x", json=unknown, headers=operator)
    assert got.status_code == 400 and "'Atlantis', 'El Dorado'" in got.json()["detail"]
    for bad_name in ("-x", "a/b", "x" * 65):
        got = await client.put(f"/v1/groups/{bad_name}", json={"locations": []}, headers=operator)
        assert got.status_code in (400, 404), bad_name  # "a/b" is no route at all
    assert (await client.delete("/v1/groups/pacific rim", headers=viewer)).status_code == 403
    assert (await client.delete("/v1/groups/pacific rim", headers=operator)).status_code == 204
    assert (await client.delete("/v1/groups/pacific rim", headers=operator)).status_code == 404
    assert (await client.get("/v1/groups/pacific rim", headers=viewer)).status_code == 404


async def test_a_browser_session_writes_only_with_json(
    client: httpx.AsyncClient, ctx: ApiContext, world: World, operator: dict[str, str]
) -> None:
    client.cookies.set("cloudperf_session", operator["authorization"].removeprefix("Bearer "))
    got = await client.delete("/v1/groups/us", headers={"content-type": "text/plain"})
    assert got.status_code == 415 and got.json()["error"] == "unsupported_media_type"
    got = await client.delete("/v1/groups/us", headers={"content-type": "application/json"})
    assert got.status_code == 204
    assert (await client.get("/v1/groups/anz")).status_code == 200  # reading needs nothing
