"""Catalogue rows as the SQL catalogues (SQLite, Aurora) read and write them.

Addresses are stored packed (4 bytes IPv4, 16 bytes IPv6) next to their ip_version, so byte
order within a version is numeric order; column orders below match the SELECT lists of both
adapters' ``catalog_sql`` modules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import msgspec

from cloudperf_core.catalog import (
    AddressRange,
    CatalogStatus,
    Location,
    Probe,
    Settings,
    User,
    city_key,
    parse_address,
    search_text,
)
from cloudperf_core.errors import BackendError
from cloudperf_core.places import PlaceKind, PlaceSummary, check_place_kind, place_order

__all__ = [
    "after_address",
    "city_matches",
    "location_from_row",
    "location_params",
    "packed",
    "place_from_row",
    "places_after",
    "probe_from_row",
    "range_from_row",
    "settings_from_body",
    "status_from_counts",
    "unpacked",
    "user_from_row",
]

SETTINGS_KEY = "global"
_settings_decoder = msgspec.json.Decoder(Settings)


def packed(text: str) -> tuple[int, bytes]:
    """``(ip_version, packed bytes)``; InvalidSpecError if ``text`` is not an address."""
    addr = parse_address(text)
    return addr.version, addr.packed


def unpacked(blob: Any) -> str:
    return str(ipaddress.ip_address(bytes(blob)))


def after_address(after: str | None) -> tuple[int, int, bytes]:
    """Parameters of a ``(version > ? OR (version = ? AND addr > ?))`` keyset condition."""
    if after is None:
        return 0, 0, b""
    version, addr = packed(after)
    return version, version, addr


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def location_params(location: Location) -> tuple[Any, ...]:
    """(name, country_code, country_name, city, asn, asn_name, latitude, longitude,
    search_text) of an already checked location."""
    return (
        location.name,
        location.country_code,
        location.country_name,
        location.city,
        location.asn,
        location.asn_name,
        location.latitude,
        location.longitude,
        search_text(location),
    )


def places_after(kind: PlaceKind, after: str | None) -> tuple[Any, ...]:
    """Keyset parameters of the ``list_places`` statements (countries: code; cities:
    code, code, city; ASNs: number), starting before everything when ``after`` is None."""
    kind = check_place_kind(kind)
    if kind == "country":
        return ("" if after is None else place_order(kind, after)[0],)
    if kind == "city":
        country, city = ("", "") if after is None else place_order(kind, after)
        return (country, country, city)
    return (-1 if after is None else place_order(kind, after)[1],)


def place_from_row(kind: PlaceKind, row: Sequence[Any]) -> PlaceSummary:
    """A place from (country code, name, count), (code or "", city, count) or (asn, name,
    count)."""
    if kind == "country":
        return PlaceSummary(kind=kind, key=str(row[0]), name=row[1], locations=int(row[2]))
    if kind == "city":
        code, city = str(row[0]), str(row[1])
        return PlaceSummary(
            kind=kind, key=f"{code}/{city}", name=city, country_code=code or None,
            locations=int(row[2]),
        )  # fmt: skip
    return PlaceSummary(kind=kind, key=f"AS{int(row[0])}", name=row[1], locations=int(row[2]))


def location_from_row(row: Sequence[Any]) -> Location:
    """(location_id, name, country_code, country_name, city, asn, asn_name, lat, lon)."""
    return Location(
        location_id=int(row[0]),
        name=str(row[1]),
        country_code=row[2],
        country_name=row[3],
        city=row[4],
        asn=_opt_int(row[5]),
        asn_name=row[6],
        latitude=_opt_float(row[7]),
        longitude=_opt_float(row[8]),
    )


def city_matches(location: Location, cities: Sequence[str] | None) -> bool:
    """The exact ``CC/City`` check after SQL selected by city name only."""
    return cities is None or city_key(location) in cities


def range_from_row(row: Sequence[Any]) -> AddressRange:
    """(ip_version, start, end, location name, location_id, last_checked_ms, queued_at_ms)."""
    return AddressRange(
        start=unpacked(row[1]),
        end=unpacked(row[2]),
        location=str(row[3]),
        location_id=int(row[4]),
        last_checked_ms=_opt_int(row[5]),
        queued_at_ms=_opt_int(row[6]),
    )


def probe_from_row(row: Sequence[Any]) -> Probe:
    """(probe_id, token_hash, name, location name, enabled, created_at_ms, last_seen_ms)."""
    return Probe(
        probe_id=str(row[0]),
        token_hash=str(row[1]),
        name=row[2],
        location=row[3],
        enabled=bool(row[4]),
        created_at_ms=int(row[5]),
        last_seen_ms=_opt_int(row[6]),
    )


def user_from_row(row: Sequence[Any]) -> User:
    return User(name=str(row[0]), password_hash=str(row[1]), role=row[2])


def settings_from_body(body: Any) -> Settings:
    if body is None:
        return Settings()
    try:
        return _settings_decoder.decode(bytes(body))
    except msgspec.DecodeError as exc:
        raise BackendError(f"stored settings are unreadable: {exc}") from exc


def status_from_counts(
    locations: Any,
    ranges: Sequence[Any],
    addresses: Sequence[Any],
    probes: Sequence[Any],
    users: Any,
    groups: Any,
) -> CatalogStatus:
    """The status from the COUNT/SUM rows (ranges: total, fresh, queued; addresses: total,
    new, stable, lost; probes: total, enabled)."""
    total_ranges, fresh = int(ranges[0]), int(ranges[1])
    return CatalogStatus(
        locations=int(locations),
        ranges=total_ranges,
        ranges_fresh=fresh,
        ranges_stale=total_ranges - fresh,
        ranges_queued=int(ranges[2]),
        addresses=int(addresses[0]),
        addresses_new=int(addresses[1]),
        addresses_stable=int(addresses[2]),
        addresses_lost=int(addresses[3]),
        probes=int(probes[0]),
        probes_enabled=int(probes[1]),
        users=int(users),
        groups=int(groups),
    )
