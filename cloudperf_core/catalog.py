"""The catalogue's domain types and the rules every Catalog implementation shares.

Locations (a place addresses belong to: country, city, ASN, coordinates), IPv4 and IPv6
address ranges, groups of locations, probes, users, global settings, the discovery history
of reachable addresses, and the retention policy of measurement windows. Implementations
(``adapters.memory``, ``adapters.sqlite``, ``adapters.aurora``) validate with the functions
here, so a value one backend refuses every backend refuses, and they apply the discovery
history rule of :func:`sweep_histories` (the Aurora adapter mirrors it in SQL; the contract
suite holds all three to this function).

Locations are named at the port (``name`` is unique and the same on every backend);
``location_id`` is the backend's own number, used inside measurement windows only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

import msgspec

from cloudperf_core.errors import InvalidSpecError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
Reachability = Literal["new", "stable", "lost", "intermittent"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
K = TypeVar("K")

MAX_PAGE = 10_000  # the largest ``limit`` a list method accepts
MAX_NAME_LEN = 255
MAX_SEARCH_TERMS = 8
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_DAY_S = 86_400

# --- discovery history: 4 rounds, newest in bit 3 ---------------------------------------------

HISTORY_FOUND = 0b1000  # the bit a round sets when the address answered
HISTORY_NEW = 0b1000  # answered in the latest round only
HISTORY_STABLE = 0b1111  # answered in each of the last four rounds


def next_history(history: int, found: bool) -> int:
    """The history after one more round: shifted right, bit 3 set if the address answered.

    0 means the address did not answer in any of the last four rounds: forget it.

    >>> [next_history(h, f) for h, f in [(0, True), (0b1000, True), (0b0001, False)]]
    [8, 12, 0]
    """
    return (history >> 1) | (HISTORY_FOUND if found else 0)


def sweep_histories(tracked: Mapping[K, int], found: Iterable[K]) -> dict[K, int]:
    """One round over a range: the new history of every tracked or found address.

    ``tracked`` holds the histories of the addresses already known inside the swept range;
    the answer has an entry for each of them and for each found one (0 = delete it). The
    Aurora adapter does the same in SQL: shift every tracked row, upsert the found ones with
    ``history | 0b1000``, delete zeros.
    """
    seen = set(found)
    out = {key: next_history(history, key in seen) for key, history in tracked.items()}
    for key in seen:
        out.setdefault(key, HISTORY_NEW)
    return out


def reachability(history: int) -> Reachability:
    """``new`` (1000b), ``stable`` (1111b), ``lost`` (silent in the latest round, still
    tracked) or ``intermittent`` (answered in the latest round and in some earlier ones)."""
    if history == HISTORY_NEW:
        return "new"
    if history == HISTORY_STABLE:
        return "stable"
    return "intermittent" if history & HISTORY_FOUND else "lost"


# --- types --------------------------------------------------------------------------------


class Location(msgspec.Struct, frozen=True, kw_only=True):
    """A place addresses belong to; ``name`` is unique (e.g. ``AS13335 Sydney``).

    ``country_code`` is ISO 3166-1 alpha-2 (stored upper-case). ``location_id`` is assigned
    by the catalogue and ignored when a location is put.
    """

    name: str
    country_code: str | None = None
    country_name: str | None = None
    city: str | None = None
    asn: int | None = None
    asn_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_id: int | None = None


class AddressRange(msgspec.Struct, frozen=True, kw_only=True):
    """An inclusive IPv4 or IPv6 range ``start``..``end`` of the location named ``location``.

    Ranges are keyed by their start address and are not expected to overlap (as in the
    ip2asn data). ``location_id``, ``last_checked_ms`` (the latest discovery sweep over it)
    and ``queued_at_ms`` (when the scheduler last queued it) are filled in when read.
    """

    start: str
    end: str
    location: str
    location_id: int | None = None
    last_checked_ms: int | None = None
    queued_at_ms: int | None = None


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """A named set of locations (by name, sorted); a location may be in several groups."""

    name: str
    locations: tuple[str, ...] = ()


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    """A measuring machine. Only a hash of its token is ever stored (SHA-256, by the core)."""

    probe_id: str
    token_hash: str
    name: str | None = None
    location: str | None = None
    enabled: bool = True
    created_at_ms: int = 0
    last_seen_ms: int | None = None


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A console/API user; ``password_hash`` is an argon2id string made by the core."""

    name: str
    password_hash: str
    role: Role = "viewer"


class ImportCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """How far an import of one file got: where to read on, and its counts so far.

    ``last_end`` is the end address of the last record taken (the next must start after it,
    and stored ranges past it are untouched); ``next_line`` numbers the line at ``offset``.
    """

    kind: str
    digest: str  # SHA-256 of the file: another file of the same kind starts afresh
    offset: int = 0
    next_line: int = 1
    last_end: str | None = None
    lines: int = 0
    records: int = 0
    ranges: int = 0
    locations: int = 0
    skipped: int = 0
    not_routed: int = 0
    started_at_ms: int = 0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Global switches; ``paused`` stops the scheduler from issuing jobs. ``imports`` holds
    the checkpoints of catalogue imports not finished yet (by ``kind:digest``)."""

    paused: bool = False
    imports: dict[str, ImportCheckpoint] = msgspec.field(default_factory=dict)


class DiscoverySweep(msgspec.Struct, frozen=True, kw_only=True):
    """One discovery round over ``start``..``end``: the addresses that answered.

    ``report_id`` makes recording idempotent: a redelivered sweep does not age addresses
    twice.
    """

    report_id: str
    start: str
    end: str
    found: tuple[str, ...]
    at_ms: int


class ReachableAddress(msgspec.Struct, frozen=True, kw_only=True):
    """A tracked address with its 4-round history (see :func:`reachability`)."""

    address: str
    history: int
    last_seen_ms: int


class LocationFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Locations matching every given field (``None`` = any; a tuple = any of its values;
    an empty tuple matches nothing). ``cities`` are :func:`city_key` strings (``AU/Sydney``),
    ``countries`` are codes (any case)."""

    names: tuple[str, ...] | None = None
    countries: tuple[str, ...] | None = None
    cities: tuple[str, ...] | None = None
    asns: tuple[int, ...] | None = None
    groups: tuple[str, ...] | None = None

    def is_everything(self) -> bool:
        return all(getattr(self, f) is None for f in self.__struct_fields__)

    def is_nothing(self) -> bool:
        return any(getattr(self, f) == () for f in self.__struct_fields__)


class CatalogStatus(msgspec.Struct, kw_only=True):
    """Sizes of the catalogue; ranges are ``fresh`` when swept since the status's cut-off,
    ``queued`` when queued for discovery after their latest sweep."""

    locations: int = 0
    ranges: int = 0
    ranges_fresh: int = 0
    ranges_stale: int = 0
    ranges_queued: int = 0
    addresses: int = 0
    addresses_new: int = 0
    addresses_stable: int = 0
    addresses_lost: int = 0
    probes: int = 0
    probes_enabled: int = 0
    users: int = 0
    groups: int = 0


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """``tiers``: (window_s, keep_s) from finest to coarsest; each window_s divides the next.

    Rows of a tier older than its ``keep_s`` (by window end) move into the next tier; rows of
    the last tier older than its ``keep_s`` are deleted. Report and sweep ids are remembered
    ``report_ids_keep_s`` (longer than any queue redelivery).
    """

    tiers: tuple[tuple[int, int], ...] = (
        (60, 2 * _DAY_S),
        (3600, 30 * _DAY_S),
        (_DAY_S, 400 * _DAY_S),
    )
    report_ids_keep_s: int = 30 * _DAY_S
    chunk_rows: int = 5000

    def validate(self) -> None:
        if not self.tiers or self.chunk_rows < 1:
            raise InvalidSpecError("retention needs at least one tier and chunk_rows >= 1")
        for (fine, _), (coarse, _) in zip(self.tiers, self.tiers[1:], strict=False):
            if fine <= 0 or coarse % fine:
                raise InvalidSpecError(f"tier {coarse}s is not a multiple of {fine}s")


class RetentionResult(msgspec.Struct, kw_only=True):
    rolled_up: int = 0  # fine rows merged into coarser ones (and removed)
    expired: int = 0  # rows of the coarsest tier deleted
    report_ids_expired: int = 0
    sweep_ids_expired: int = 0  # discovery sweep report ids


# --- keys and search ----------------------------------------------------------------------


def city_key(location: Location) -> str | None:
    """``CC/City`` (``/City`` without a country), the key cities are grouped and filtered by."""
    if location.city is None:
        return None
    return f"{location.country_code or ''}/{location.city}"


def asn_key(asn: int | None) -> str | None:
    return None if asn is None else f"AS{asn}"


def search_text(location: Location) -> str:
    """What search matches against: name, ``as<asn>``, ASN name, country code and name, city,
    lower-cased by Python so every backend compares the same text (no collation involved)."""
    parts = [
        location.name,
        asn_key(location.asn),
        location.asn_name,
        location.country_code,
        location.country_name,
        location.city,
    ]
    return " ".join(p for p in parts if p).lower()


def search_terms(text: str) -> list[str]:
    """The lower-cased words of a search; a location matches when it contains every one."""
    terms = list(dict.fromkeys(text.lower().split()))
    if len(terms) > MAX_SEARCH_TERMS:
        raise InvalidSpecError(f"a search takes at most {MAX_SEARCH_TERMS} words")
    return terms


def like_pattern(term: str) -> str:
    """``%term%`` for ``LIKE ... ESCAPE '!'`` (``%``, ``_`` and ``!`` matched literally)."""
    return "%" + term.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidSpecError(f"limit must be 1..{MAX_PAGE}, got {limit!r}")
    return limit


# --- validation ---------------------------------------------------------------------------


def parse_address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidSpecError(f"not an IP address: {text!r}") from exc


def address_key(text: str) -> tuple[int, int]:
    """``(ip_version, integer value)``: the order every backend lists addresses in."""
    addr = parse_address(text)
    return addr.version, int(addr)


def range_bounds(start: str, end: str) -> tuple[int, IPAddress, IPAddress]:
    """``(ip_version, first, last)`` of an inclusive range (same version, first <= last)."""
    lo, hi = parse_address(start), parse_address(end)
    if lo.version != hi.version or int(lo) > int(hi):
        raise InvalidSpecError(f"bad address range {start}..{end}")
    return lo.version, lo, hi


def _name(value: str | None, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LEN:
        raise InvalidSpecError(f"{what} must be 1..{MAX_NAME_LEN} characters, got {value!r}")


def checked_location(location: Location) -> Location:
    """The location as stored (country code upper-cased), or InvalidSpecError."""
    _name(location.name, "a location name")
    for value, what in (
        (location.country_name, "a country name"),
        (location.city, "a city"),
        (location.asn_name, "an ASN name"),
    ):
        _name(value, what, optional=True)
    code = location.country_code.upper() if location.country_code else None
    if code is not None and not _COUNTRY_RE.match(code):
        raise InvalidSpecError(f"country code must be two letters, got {code!r}")
    asn = location.asn
    if asn is not None and (isinstance(asn, bool) or not 0 <= asn < 2**32):
        raise InvalidSpecError(f"ASN out of range: {asn!r}")
    for degrees, bound, axis in (
        (location.latitude, 90, "latitude"),
        (location.longitude, 180, "longitude"),
    ):
        if degrees is not None and not -bound <= degrees <= bound:
            raise InvalidSpecError(f"{axis} out of range: {degrees!r}")
    return msgspec.structs.replace(location, country_code=code, location_id=None)


def check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidSpecError(f"{what} must be 1..128 characters of [A-Za-z0-9._:-]")


def check_probe(probe: Probe) -> None:
    check_id(probe.probe_id, "a probe id")
    _name(probe.token_hash, "a token hash")
    _name(probe.name, "a probe name", optional=True)
    _name(probe.location, "a location name", optional=True)


def check_user(user: User) -> None:
    _name(user.name, "a user name")
    _name(user.password_hash, "a password hash")
    if user.role not in ROLES:
        raise InvalidSpecError(f"role must be one of {ROLES}, got {user.role!r}")


def checked_group(group: Group) -> Group:
    """The group with its location names sorted and deduplicated, or InvalidSpecError."""
    _name(group.name, "a group name")
    for name in group.locations:
        _name(name, "a location name")
    return Group(name=group.name, locations=tuple(sorted(set(group.locations))))


def checked_sweep(sweep: DiscoverySweep) -> tuple[int, IPAddress, IPAddress, list[IPAddress]]:
    """``(ip_version, first, last, found)`` of a sweep; every found address must lie in it."""
    check_id(sweep.report_id, "a sweep's report id")
    version, lo, hi = range_bounds(sweep.start, sweep.end)
    found = list(dict.fromkeys(parse_address(a) for a in sweep.found))
    outside = [str(a) for a in found if a.version != version or not int(lo) <= int(a) <= int(hi)]
    if outside:
        raise InvalidSpecError(
            f"sweep {sweep.report_id}: found addresses outside it: {outside[:3]}"
        )
    return version, lo, hi, found
