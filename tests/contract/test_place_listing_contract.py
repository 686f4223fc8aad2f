"""Catalog.list_places contract: countries, cities and ASNs listed alike by every backend
(memory, SQLite, MariaDB), in one order, page by page, and as ``summarize_places`` says."""

from __future__ import annotations

from typing import Any

import pytest

from cloudperf_core.catalog import Location
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.places import PlaceKind, PlaceSummary, summarize_places

LOCATIONS = [
    Location(name="AS64500 Sydney", country_code="AU", country_name="Australia", city="Sydney",
             asn=64500, asn_name="Example Transit"),
    Location(name="AS64501 Sydney", country_code="AU", city="Sydney", asn=64501),
    Location(name="AS64501 Melbourne", country_code="AU", city="Melbourne", asn=64501,
             asn_name="Blue Sky"),
    Location(name="AS64500 New York", country_code="US", country_name="United States",
             city="New York", asn=64500, asn_name="Example Transit II"),
    Location(name="AS64502 Sydney NS", country_code="CA", city="Sydney", asn=64502),
    Location(name="AS9 Zürich", country_code="CH", country_name="Schweiz", city="Zürich", asn=9),
    Location(name="AS9 Zug", country_code="CH", city="Zug", asn=9),
    Location(name="cityless", country_code="NZ", country_name="New Zealand"),
    Location(name="nowhere-city", city="Atlantis", asn=4_200_000_000),
]  # fmt: skip


async def everything(catalog: Any, kind: PlaceKind, page: int) -> list[PlaceSummary]:
    out: list[PlaceSummary] = []
    while True:
        got = await catalog.list_places(kind, after=out[-1].key if out else None, limit=page)
        out.extend(got)
        if len(got) < page:
            return out


async def test_countries_cities_and_asns(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    countries = await catalog.list_places("country")
    assert [(p.key, p.name, p.locations) for p in countries] == [
        ("AU", "Australia", 3),
        ("CA", None, 1),
        ("CH", "Schweiz", 2),
        ("NZ", "New Zealand", 1),
        ("US", "United States", 1),
    ]
    cities = await catalog.list_places("city")
    assert [(p.key, p.name, p.country_code, p.locations) for p in cities] == [
        ("/Atlantis", "Atlantis", None, 1),  # no country: sorted first, still listed
        ("AU/Melbourne", "Melbourne", "AU", 1),
        ("AU/Sydney", "Sydney", "AU", 2),
        ("CA/Sydney", "Sydney", "CA", 1),  # not the same city as AU/Sydney
        ("CH/Zug", "Zug", "CH", 1),
        ("CH/Zürich", "Zürich", "CH", 1),  # code point order: "g" < "ü"
        ("US/New York", "New York", "US", 1),
    ]
    asns = await catalog.list_places("asn")
    assert [(p.key, p.name, p.locations) for p in asns] == [
        ("AS9", None, 2),  # numeric order, not text order
        ("AS64500", "Example Transit II", 2),  # names disagree: the greatest
        ("AS64501", "Blue Sky", 2),
        ("AS64502", None, 1),
        ("AS4200000000", None, 1),
    ]


@pytest.mark.parametrize("kind", ["country", "city", "asn"])
async def test_pages_continue_after_a_key_and_match_the_reference(
    catalog: Any, kind: PlaceKind
) -> None:
    await catalog.put_locations(LOCATIONS)
    reference = summarize_places(LOCATIONS, kind)
    for page in (1, 2, 100):
        assert await everything(catalog, kind, page) == reference
    assert await catalog.list_places(kind, after=reference[-1].key) == []


async def test_bad_kinds_keys_and_limits_are_refused(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    for kind, after in [("asn", "64500"), ("asn", "ASx"), ("city", "Sydney"), ("region", None)]:
        with pytest.raises(InvalidSpecError):
            await catalog.list_places(kind, after=after)
    with pytest.raises(InvalidSpecError):
        await catalog.list_places("country", limit=0)
    assert await catalog.list_places("country", after="ZZ") == []
