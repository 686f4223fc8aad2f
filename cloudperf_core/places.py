"""Countries, cities and ASNs: the places the catalogue's locations fall into, as listed.

A :class:`PlaceSummary` is one country (key ``AU``), city (``AU/Sydney``, the
:func:`~cloudperf_core.catalog.city_key`) or ASN (``AS64500``) with how many catalogue
locations it spans. Every Catalog lists them in one order and pages them by key
(``Places.list_places``); :func:`summarize_places` is that listing's reference, used by the
in-memory catalogue and for "places that have data" (the locations measured lately).

Orders: countries by code; cities by (country code, or "" when unknown; city); ASNs by
number. Names: the country's or ASN's name (the greatest one when locations disagree), the
city itself for a city. Locations without the field are in no place of that kind.

>>> from cloudperf_core.catalog import Location
>>> [p.key for p in summarize_places([Location(name="a", country_code="AU", city="Perth")], "city")]
['AU/Perth']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from cloudperf_core.catalog import Location, check_limit
from cloudperf_core.errors import InvalidSpecError

__all__ = [
    "PLACE_KINDS",
    "PlaceKind",
    "PlaceSummary",
    "check_place_kind",
    "page_places",
    "place_order",
    "summarize_places",
]

PlaceKind = Literal["country", "city", "asn"]
PLACE_KINDS: tuple[PlaceKind, ...] = ("country", "city", "asn")
# The sort key of a place: (country code or "", city) for cities, ("", ASN) for ASNs.
Order = tuple[str, str] | tuple[str, int]


class PlaceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One country, city or ASN of the catalogue and how many locations it spans."""

    kind: PlaceKind
    key: str
    name: str | None = None
    country_code: str | None = None
    locations: int = 0


def check_place_kind(kind: str) -> PlaceKind:
    if kind not in PLACE_KINDS:
        raise InvalidSpecError(f"place kind must be one of {PLACE_KINDS}, not {kind!r}")
    return kind


def place_order(kind: PlaceKind, key: str) -> Order:
    """The sort key of the place ``key`` (a continuation ``after``); InvalidSpecError if the
    key is not shaped like one of ``kind``."""
    if kind == "country":
        return (key, "")
    if kind == "city":
        country, sep, city = key.partition("/")
        if not sep:
            raise InvalidSpecError(f"a city key is CC/City, not {key!r}")
        return (country, city)
    digits = key[2:] if key[:2].upper() == "AS" else ""
    if not digits.isdigit() or not digits.isascii() or len(digits) > 10:
        raise InvalidSpecError(f"an ASN key is AS<number>, not {key!r}")
    return ("", int(digits))


def _place_of(kind: PlaceKind, loc: Location) -> tuple[Order, str, str | None] | None:
    """(order, key, name) of the location's place of ``kind``, or None if it has none."""
    if kind == "country":
        code = loc.country_code
        return None if code is None else ((code, ""), code, loc.country_name)
    if kind == "city":
        if loc.city is None:
            return None
        code = loc.country_code or ""
        return (code, loc.city), f"{code}/{loc.city}", loc.city
    return None if loc.asn is None else (("", loc.asn), f"AS{loc.asn}", loc.asn_name)


def summarize_places(locations: Iterable[Location], kind: str) -> list[PlaceSummary]:
    """Every place of ``kind`` the locations fall into, in the listing order."""
    kind = check_place_kind(kind)
    found: dict[Order, tuple[str, str | None, int]] = {}
    codes: dict[Order, str | None] = {}
    for loc in locations:
        place = _place_of(kind, loc)
        if place is None:
            continue
        order, key, name = place
        _, known, count = found.get(order, (key, None, 0))
        best = name if known is None else known if name is None else max(known, name)
        found[order] = (key, best, count + 1)
        codes[order] = loc.country_code if kind == "city" else None
    return [
        PlaceSummary(kind=kind, key=key, name=name, country_code=codes[order], locations=n)
        for order, (key, name, n) in sorted(found.items())
    ]


def page_places(
    places: Sequence[PlaceSummary], kind: str, *, after: str | None, limit: int
) -> list[PlaceSummary]:
    """Up to ``limit`` of ``places`` (in listing order) that come after the key ``after``."""
    kind = check_place_kind(kind)
    check_limit(limit)
    if after is None:
        return list(places[:limit])
    start = place_order(kind, after)
    return [p for p in places if place_order(kind, p.key) > start][:limit]
