"""The range join: a file's records intersected with the ranges already in the catalogue.

The catalogue keeps one set of non-overlapping ranges, each with a location that combines
both sources: who announces it (ip2asn: ASN, ASN name) and where it is (DB-IP: country, city,
coordinates). Importing either file intersects its records with the stored ranges: each
piece of a record takes the record's side from the record and the other side from the
stored range it falls in (nothing where there is none); the parts of a stored range outside
the record keep their location. Imports of both files, in either order, end with ranges
whose locations carry both sides.

Every piece is written under its start address, so a stored range split by a record is
rewritten as its pieces and never left overlapping them; the piece of a stored range past
the last record of a chunk is written too (its old location), so after each chunk the
catalogue is consistent and an interrupted import resumes after the chunk it finished.

Location names (unique and stable; see :func:`location_name`): ``AS64496 AU Sydney, New
South Wales`` (ASN, country, city, state or province), ``AS64496 AU`` without a city,
``AU Sydney, New South Wales`` without an ASN. Country names come from ISO 3166-1
(pycountry).
"""

from __future__ import annotations

import functools
import ipaddress
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cloudperf_core.catalog import MAX_NAME_LEN, AddressRange, Location
from cloudperf_core.importers.formats import AsnRecord, CityRecord, Format, Record

__all__ = [
    "JoinResult",
    "StoredSpan",
    "combine_for",
    "country_name",
    "join_chunk",
    "location_name",
]


@dataclass(slots=True)
class StoredSpan:
    """A stored range (or what is left of it) with its location."""

    version: int
    lo: int
    hi: int
    location: Location


@dataclass
class JoinResult:
    """Ranges to put (by start), the new locations they need, the stored spans left over."""

    ranges: dict[tuple[int, int], AddressRange] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    left: list[StoredSpan] = field(default_factory=list)


@functools.lru_cache(maxsize=512)
def country_name(code: str | None) -> str | None:
    """The ISO 3166-1 short name of a two-letter code (``None`` if unknown)."""
    if code is None:
        return None
    import pycountry  # a few MB of data: loaded on the first import, not at start-up

    country = pycountry.countries.get(alpha_2=code)
    return None if country is None else str(country.name)


def _place(country: str | None, city: str | None, region: str | None) -> str | None:
    if city is None:
        return country
    where = city if region is None or region == city else f"{city}, {region}"
    return f"{country or 'ZZ'} {where}"


def location_name(asn: int | None, place: str | None) -> str:
    """``AS<asn> <place>``, or either alone; ``unknown`` with neither."""
    parts = [f"AS{asn}" if asn is not None else "", place or ""]
    return " ".join(p for p in parts if p)[:MAX_NAME_LEN] or "unknown"


def _stored_place(location: Location) -> str | None:
    """The place part of a stored location's name (what the city side said), or ``None``
    when that location has no city side."""
    if location.city is None:
        return None
    prefix = f"AS{location.asn} "
    if location.asn is not None and location.name.startswith(prefix):
        return location.name[len(prefix) :]
    if location.asn is None:
        return location.name
    return _place(location.country_code, location.city, None)


def _with_asn(record: AsnRecord, stored: Location | None) -> Location:
    geo = stored if stored is not None and stored.city is not None else None
    country = geo.country_code if geo is not None else record.country
    return Location(
        name=location_name(record.asn, _stored_place(geo) if geo else record.country),
        country_code=country,
        country_name=country_name(country),
        city=geo.city if geo else None,
        asn=record.asn,
        asn_name=record.description,
        latitude=geo.latitude if geo else None,
        longitude=geo.longitude if geo else None,
    )


def _with_city(record: CityRecord, stored: Location | None) -> Location:
    asn = stored.asn if stored is not None else None
    return Location(
        name=location_name(asn, _place(record.country, record.city, record.region)),
        country_code=record.country,
        country_name=country_name(record.country),
        city=record.city,
        asn=asn,
        asn_name=stored.asn_name if stored is not None else None,
        latitude=record.latitude,
        longitude=record.longitude,
    )


Combine = Callable[[Record, Location | None], Location]


def combine_for(fmt: Format) -> Combine:
    """How a record of ``fmt`` and the stored location under it make the new location."""

    def combine(record: Record, stored: Location | None) -> Location:
        if isinstance(record, AsnRecord):
            return _with_asn(record, stored)
        return _with_city(record, stored)

    return combine


def _address(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def join_chunk(
    records: Sequence[Record], stored: Sequence[StoredSpan], combine: Combine
) -> JoinResult:
    """Intersect sorted, non-overlapping ``records`` with the sorted stored spans that start
    at or before the last record's end (see the module doc). Spans are consumed in place;
    what is left of them after the last record is returned in ``left``."""
    out = JoinResult()

    def put(version: int, lo: int, hi: int, location: Location) -> None:
        out.locations.setdefault(location.name, location)
        out.ranges[(version, lo)] = AddressRange(
            start=_address(version, lo), end=_address(version, hi), location=location.name
        )

    def keep(span: StoredSpan, lo: int, hi: int) -> None:
        out.ranges[(span.version, lo)] = AddressRange(
            start=_address(span.version, lo),
            end=_address(span.version, hi),
            location=span.location.name,
        )

    spans = deque(stored)
    for rec in records:
        v = rec.version
        while spans and (spans[0].version, spans[0].hi) < (v, rec.lo):
            spans.popleft()  # entirely before this record: untouched
        pos = rec.lo
        while pos <= rec.hi:
            span = spans[0] if spans and spans[0].version == v and spans[0].lo <= rec.hi else None
            if span is None:
                put(v, pos, rec.hi, combine(rec, None))
                break
            if span.lo > pos:  # a gap before the next stored span
                put(v, pos, span.lo - 1, combine(rec, None))
                pos = span.lo
            if span.lo < pos:  # the span began before the record: its head stays as it was
                keep(span, span.lo, pos - 1)
                span.lo = pos
            end = min(span.hi, rec.hi)
            put(v, pos, end, combine(rec, span.location))
            if span.hi > rec.hi:  # its tail stays as it was, until a later record covers it
                span.lo = rec.hi + 1
                keep(span, span.lo, span.hi)
            else:
                spans.popleft()
            pos = end + 1
    out.left = list(spans)
    return out
