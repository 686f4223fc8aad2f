"""Catalog contract: every implementation (memory, SQLite, MariaDB) gives the same answers.

Catalogue data uses documentation ranges only (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32); nothing here sends a packet.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from cloudperf_core.catalog import (
    AddressRange,
    DiscoverySweep,
    Group,
    Location,
    LocationFilter,
    Probe,
    Settings,
    User,
    next_history,
)
from cloudperf_core.errors import InvalidSpecError, NotFoundError

T0_MS = 1_700_000_000_000

SYD = Location(
    name="AS64500 Sydney", country_code="au", country_name="Australia", city="Sydney",
    asn=64500, asn_name="Example Transit", latitude=-33.87, longitude=151.21,
)  # fmt: skip
MEL = Location(name="AS64501 Melbourne", country_code="AU", city="Melbourne", asn=64501)
NYC = Location(
    name="AS64500 New York", country_code="US", country_name="United States", city="New York",
    asn=64500, asn_name="Example Transit",
)  # fmt: skip
SYD_CA = Location(name="AS64502 Sydney NS", country_code="CA", city="Sydney", asn=64502)
ZRH = Location(
    name="AS64503 Zürich", country_code="CH", country_name="Schweiz", city="Zürich", asn=64503,
    asn_name="Bärn_Net 100%",
)  # fmt: skip
LOCATIONS = [SYD, MEL, NYC, SYD_CA, ZRH]
RANGES = [
    AddressRange(start="192.0.2.128", end="192.0.2.255", location=SYD.name),
    AddressRange(start="192.0.2.16", end="192.0.2.31", location=MEL.name),
    AddressRange(start="198.51.100.0", end="198.51.100.255", location=NYC.name),
    AddressRange(start="2001:db8::", end="2001:db8::ffff", location=SYD.name),
    AddressRange(start="2001:db8:1::", end="2001:db8:1::ff", location=ZRH.name),
]


async def seeded(catalog: Any) -> Any:
    await catalog.put_locations(LOCATIONS)
    assert await catalog.put_ranges(RANGES) == len(RANGES)
    return catalog


def names(locations: Any) -> list[str]:
    return [loc.name for loc in locations]


# --- locations ---------------------------------------------------------------------------


async def test_locations_round_trip_and_update_by_name(catalog: Any) -> None:
    ids = await catalog.put_locations(LOCATIONS)
    assert set(ids) == {loc.name for loc in LOCATIONS} and len(set(ids.values())) == 5
    syd = await catalog.get_location(SYD.name)
    assert syd is not None and syd.location_id == ids[SYD.name]
    assert (syd.country_code, syd.country_name, syd.city) == ("AU", "Australia", "Sydney")
    assert (syd.asn, syd.asn_name, syd.latitude, syd.longitude) == (
        64500, "Example Transit", -33.87, 151.21,
    )  # fmt: skip
    moved = Location(name=SYD.name, country_code="AU", city="Parramatta", asn=64500)
    assert await catalog.put_locations([moved]) == {SYD.name: ids[SYD.name]}  # same id
    again = await catalog.get_location(SYD.name)
    assert again is not None and (again.city, again.country_name) == ("Parramatta", None)
    assert await catalog.get_location("nowhere") is None
    by_id = await catalog.locations_by_id([ids[MEL.name], ids[NYC.name], 999_999])
    assert {i: loc.name for i, loc in by_id.items()} == {
        ids[MEL.name]: MEL.name,
        ids[NYC.name]: NYC.name,
    }


async def test_locations_are_listed_by_name_page_by_page(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    everything = sorted(loc.name for loc in LOCATIONS)
    first = await catalog.list_locations(limit=2)
    rest = await catalog.list_locations(after=first[-1].name, limit=100)
    assert names(first) + names(rest) == everything
    with pytest.raises(InvalidSpecError):
        await catalog.list_locations(limit=0)


async def test_invalid_locations_are_refused_and_nothing_is_written(catalog: Any) -> None:
    for bad in [
        Location(name=""),
        Location(name="x", country_code="AUS"),
        Location(name="x", latitude=91.0),
        Location(name="x", longitude=-181.0),
        Location(name="x", asn=2**32),
        Location(name="x" * 256),
    ]:
        with pytest.raises(InvalidSpecError):
            await catalog.put_locations([MEL, bad])
    assert await catalog.list_locations() == []


async def test_search_is_case_insensitive_over_asn_country_and_city(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    assert names(await catalog.search("as64500")) == [NYC.name, SYD.name]
    assert names(await catalog.search("64501")) == [MEL.name]
    assert names(await catalog.search("EXAMPLE transit")) == [NYC.name, SYD.name]
    assert names(await catalog.search("australia")) == [SYD.name]
    assert names(await catalog.search("au")) == [SYD.name, MEL.name]  # the code, by name
    assert names(await catalog.search("SYDNEY")) == [SYD.name, SYD_CA.name]
    assert names(await catalog.search("sydney ca")) == [SYD_CA.name]  # every word must match
    assert names(await catalog.search("ZÜRICH")) == [ZRH.name]
    assert names(await catalog.search("bärn_net 100%")) == [ZRH.name]
    assert names(await catalog.search("_")) == [ZRH.name]  # _ is a character, not a wildcard
    assert await catalog.search("n%t") == []  # % is a character, not a wildcard
    assert await catalog.search("  ") == []
    page = await catalog.search("as645", limit=2)
    more = await catalog.search("as645", after=page[-1].name, limit=10)
    assert names(page) + names(more) == sorted(loc.name for loc in LOCATIONS)


async def test_find_locations_by_every_place_kind(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    await catalog.set_group(Group(name="apac", locations=(SYD.name, MEL.name)))

    async def find(**kw: Any) -> list[str]:
        return names(await catalog.find_locations(LocationFilter(**kw)))

    assert await find() == sorted(loc.name for loc in LOCATIONS)
    assert await find(countries=("au",)) == [SYD.name, MEL.name]
    assert await find(cities=("AU/Sydney",)) == [SYD.name]  # not Sydney, Nova Scotia
    assert await find(cities=("AU/Sydney", "CA/Sydney")) == [SYD.name, SYD_CA.name]
    assert await find(asns=(64500,)) == [NYC.name, SYD.name]
    assert await find(asns=(64500,), countries=("US",)) == [NYC.name]  # all filters apply
    assert await find(groups=("apac",)) == [SYD.name, MEL.name]
    assert await find(groups=("apac",), asns=(64501,)) == [MEL.name]
    assert await find(names=(ZRH.name, "unknown")) == [ZRH.name]
    assert await find(countries=()) == []


# --- ranges --------------------------------------------------------------------------------


async def test_ranges_locate_ipv4_and_ipv6(catalog: Any) -> None:
    await seeded(catalog)
    for address, expected in [
        ("192.0.2.128", SYD.name),  # first address
        ("192.0.2.255", SYD.name),  # last address
        ("192.0.2.20", MEL.name),
        ("192.0.2.32", None),  # just past MEL's end
        ("192.0.2.1", None),  # before any range
        ("203.0.113.5", None),
        ("2001:db8::abcd", SYD.name),
        ("2001:DB8:1::0001", ZRH.name),
        ("2001:db8:1::100", None),
    ]:
        found = await catalog.locate(address)
        assert (None if found is None else found.name) == expected, address
    syd = await catalog.locate("192.0.2.200")
    assert syd is not None and syd.country_code == "AU" and syd.location_id is not None
    with pytest.raises(InvalidSpecError):
        await catalog.locate("example.net")
    many = await catalog.locate_many(
        ["192.0.2.130", "example.net", "2001:db8::1", "203.0.113.1", "192.0.2.130"]
    )
    assert {a: loc.name for a, loc in many.items()} == {
        "192.0.2.130": SYD.name,
        "2001:db8::1": SYD.name,
    }
    assert await catalog.locate_many([]) == {}


async def test_ranges_are_listed_in_numeric_order_and_updated_by_start(catalog: Any) -> None:
    await seeded(catalog)
    listed = await catalog.list_ranges()
    assert [r.start for r in listed] == [
        "192.0.2.16", "192.0.2.128", "198.51.100.0", "2001:db8::", "2001:db8:1::",
    ]  # fmt: skip
    assert (listed[0].end, listed[0].location, listed[0].last_checked_ms) == (
        "192.0.2.31", MEL.name, None,
    )  # fmt: skip
    first = await catalog.list_ranges(limit=2)
    rest = await catalog.list_ranges(after=first[-1].start)
    assert [r.start for r in first + rest] == [r.start for r in listed]
    assert [r.start for r in await catalog.list_ranges(location=SYD.name)] == [
        "192.0.2.128",
        "2001:db8::",
    ]
    # Same start again: the range moves to another location and a new end.
    await catalog.put_ranges(
        [AddressRange(start="192.0.2.16", end="192.0.2.23", location=NYC.name)]
    )
    assert (await catalog.locate("192.0.2.24")) is None
    moved = await catalog.locate("192.0.2.17")
    assert moved is not None and moved.name == NYC.name
    assert len(await catalog.list_ranges()) == len(RANGES)


async def test_bad_ranges_are_refused(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    with pytest.raises(NotFoundError):
        await catalog.put_ranges([AddressRange(start="192.0.2.0", end="192.0.2.9", location="x")])
    for start, end in [("192.0.2.9", "192.0.2.0"), ("192.0.2.0", "2001:db8::1"), ("a", "b")]:
        with pytest.raises(InvalidSpecError):
            await catalog.put_ranges([AddressRange(start=start, end=end, location=SYD.name)])
    assert await catalog.list_ranges() == []


# --- groups --------------------------------------------------------------------------------


async def test_groups_set_get_list_delete(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    await catalog.set_group(Group(name="apac", locations=(SYD.name, MEL.name, SYD.name)))
    await catalog.set_group(Group(name="empty"))
    assert await catalog.get_group("apac") == Group(name="apac", locations=(SYD.name, MEL.name))
    assert await catalog.list_groups() == [
        Group(name="apac", locations=(SYD.name, MEL.name)),
        Group(name="empty", locations=()),
    ]
    with pytest.raises(NotFoundError):
        await catalog.set_group(Group(name="apac", locations=(NYC.name, "atlantis")))
    assert (await catalog.get_group("apac")).locations == (SYD.name, MEL.name)  # unchanged
    await catalog.set_group(Group(name="apac", locations=(NYC.name,)))
    assert (await catalog.get_group("apac")).locations == (NYC.name,)
    assert await catalog.delete_group("apac") is True
    assert await catalog.delete_group("apac") is False
    assert await catalog.get_group("apac") is None
    assert [g.name for g in await catalog.list_groups()] == ["empty"]


# --- discovery -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["198.51.100.", "2001:db8::"])
async def test_sweeps_follow_the_history_rule(catalog: Any, prefix: str) -> None:
    """Random rounds over a range: every backend holds exactly the rule's histories."""
    rng = random.Random(prefix)
    start, end = f"{prefix}0", f"{prefix}ff" if ":" in prefix else f"{prefix}255"
    pool = [f"{prefix}{i:x}" if ":" in prefix else f"{prefix}{i}" for i in range(1, 12)]
    await catalog.put_locations([NYC])
    await catalog.put_ranges([AddressRange(start=start, end=end, location=NYC.name)])
    model: dict[str, int] = {}
    for round_no in range(9):
        found = rng.sample(pool, rng.randint(0, 5))
        sweep = DiscoverySweep(
            report_id=f"sweep-{round_no}", start=start, end=end, found=tuple(found),
            at_ms=T0_MS + round_no,
        )  # fmt: skip
        assert await catalog.record_sweep(sweep) is True
        for address in set(model) | set(found):
            model[address] = next_history(model.get(address, 0), address in found)
        model = {a: h for a, h in model.items() if h}
        got = await catalog.reachable_addresses(NYC.name, limit=100)
        assert {a.address: a.history for a in got} == model, round_no


async def test_a_redelivered_sweep_does_not_age_twice(catalog: Any) -> None:
    await seeded(catalog)
    sweep = DiscoverySweep(
        report_id="job-1.sweep", start="198.51.100.0", end="198.51.100.255",
        found=("198.51.100.7", "198.51.100.9"), at_ms=T0_MS,
    )  # fmt: skip
    assert await catalog.record_sweep(sweep) is True
    assert await catalog.record_sweep(sweep) is False
    silent = DiscoverySweep(
        report_id="job-2.sweep", start="198.51.100.0", end="198.51.100.255", found=(),
        at_ms=T0_MS + 60_000,
    )  # fmt: skip
    assert await catalog.record_sweep(silent) is True
    assert await catalog.record_sweep(silent) is False
    got = await catalog.reachable_addresses(NYC.name)
    assert [(a.address, a.history, a.last_seen_ms) for a in got] == [
        ("198.51.100.7", 0b0100, T0_MS),
        ("198.51.100.9", 0b0100, T0_MS),
    ]


async def test_sweeps_mark_ranges_checked_and_due_ranges_rotate(catalog: Any) -> None:
    await seeded(catalog)
    due = await catalog.ranges_due(checked_before_ms=T0_MS)
    assert len(due) == len(RANGES)  # never swept: all due
    # A sweep over part of the SYD range marks it checked, leaving its neighbours alone.
    await catalog.record_sweep(
        DiscoverySweep(report_id="s1", start="192.0.2.128", end="192.0.2.191", found=(),
                       at_ms=T0_MS + 5)
    )  # fmt: skip
    await catalog.record_sweep(
        DiscoverySweep(report_id="s2", start="2001:db8::", end="2001:db8::ff", found=(),
                       at_ms=T0_MS + 9)
    )  # fmt: skip
    by_start = {r.start: r for r in await catalog.list_ranges()}
    assert by_start["192.0.2.128"].last_checked_ms == T0_MS + 5
    assert by_start["2001:db8::"].last_checked_ms == T0_MS + 9
    assert by_start["192.0.2.16"].last_checked_ms is None
    due = await catalog.ranges_due(checked_before_ms=T0_MS + 100)
    # Never-swept ranges first (by address), then the least recently swept.
    assert [r.start for r in due] == [
        "192.0.2.16", "198.51.100.0", "2001:db8:1::", "192.0.2.128", "2001:db8::",
    ]  # fmt: skip
    assert [r.start for r in await catalog.ranges_due(checked_before_ms=T0_MS + 7)] == [
        "192.0.2.16", "198.51.100.0", "2001:db8:1::", "192.0.2.128",
    ]  # fmt: skip
    await catalog.mark_ranges_queued(["192.0.2.16", "2001:db8:1::"], T0_MS + 50)
    assert [r.start for r in await catalog.ranges_due(checked_before_ms=T0_MS + 40, limit=2)] == [
        "198.51.100.0", "192.0.2.128",
    ]  # fmt: skip
    # Once the queueing is older than the cut-off, the range is due again.
    assert "192.0.2.16" in {r.start for r in await catalog.ranges_due(checked_before_ms=T0_MS + 60)}
    status = await catalog.status(fresh_since_ms=T0_MS + 7)
    assert (status.ranges, status.ranges_fresh, status.ranges_stale, status.ranges_queued) == (
        5, 1, 4, 2,
    )  # fmt: skip


async def test_sweeps_refuse_addresses_outside_their_range(catalog: Any) -> None:
    sweep = DiscoverySweep(
        report_id="s1", start="198.51.100.0", end="198.51.100.15", found=("198.51.100.16",),
        at_ms=T0_MS,
    )  # fmt: skip
    with pytest.raises(InvalidSpecError):
        await catalog.record_sweep(sweep)
    await catalog.put_locations([NYC])
    await catalog.put_ranges([AddressRange(start="198.51.100.0", end="198.51.100.255",
                                           location=NYC.name)])  # fmt: skip
    assert await catalog.reachable_addresses(NYC.name) == []


async def test_reachable_addresses_page_within_a_location(catalog: Any) -> None:
    await seeded(catalog)
    for i, (start, end, found) in enumerate(
        [
            ("192.0.2.0", "192.0.2.255", ("192.0.2.200", "192.0.2.20", "192.0.2.129")),
            ("2001:db8::", "2001:db8::ffff", ("2001:db8::9", "2001:db8::10")),
        ]
    ):
        sweep = DiscoverySweep(report_id=f"s{i}", start=start, end=end, found=found, at_ms=T0_MS)
        await catalog.record_sweep(sweep)
    syd = [a.address for a in await catalog.reachable_addresses(SYD.name, limit=100)]
    assert syd == ["192.0.2.129", "192.0.2.200", "2001:db8::9", "2001:db8::10"]
    first = await catalog.reachable_addresses(SYD.name, limit=3)
    rest = await catalog.reachable_addresses(SYD.name, after=first[-1].address)
    assert [a.address for a in first + rest] == syd
    assert [a.address for a in await catalog.reachable_addresses(MEL.name)] == ["192.0.2.20"]
    with pytest.raises(NotFoundError):
        await catalog.reachable_addresses("atlantis")
    status = await catalog.status(fresh_since_ms=T0_MS)
    assert (status.addresses, status.addresses_new, status.addresses_stable) == (5, 5, 0)


async def test_reachable_locations_are_those_whose_addresses_answered_the_latest_round(
    catalog: Any,
) -> None:
    await seeded(catalog)
    assert await catalog.reachable_locations() == []
    sweeps = [
        ("192.0.2.128", "192.0.2.255", ("192.0.2.130",)),  # SYD, answered
        ("192.0.2.16", "192.0.2.31", ("192.0.2.17",)),  # MEL, silent in the next round
        ("2001:db8:1::", "2001:db8:1::ff", ("2001:db8:1::5",)),  # ZRH
    ]
    for i, (start, end, found) in enumerate(sweeps):
        await catalog.record_sweep(
            DiscoverySweep(report_id=f"r1-{i}", start=start, end=end, found=found, at_ms=T0_MS)
        )
    await catalog.record_sweep(
        DiscoverySweep(report_id="r2-mel", start="192.0.2.16", end="192.0.2.31", found=(),
                       at_ms=T0_MS + 1)
    )  # fmt: skip
    # MEL's address is still tracked (history 0100b) but did not answer the latest round.
    assert [a.history for a in await catalog.reachable_addresses(MEL.name)] == [0b0100]
    everything = await catalog.reachable_locations()
    assert everything == sorted([SYD.name, ZRH.name])
    first = await catalog.reachable_locations(limit=1)
    assert first + await catalog.reachable_locations(after=first[0]) == everything
    # NYC never had a sweep: no address of it is tracked.
    assert NYC.name not in everything


# --- probes, users, settings ---------------------------------------------------------------


async def test_probes_round_trip_and_last_seen_never_goes_back(catalog: Any) -> None:
    await catalog.put_locations(LOCATIONS)
    probe = Probe(
        probe_id="fra-1", token_hash="sha256:" + "ab" * 32, name="Frankfurt 1",
        location=SYD.name, created_at_ms=T0_MS,
    )  # fmt: skip
    await catalog.put_probe(probe)
    await catalog.put_probe(Probe(probe_id="ams-1", token_hash="h2", enabled=False))
    assert await catalog.get_probe("fra-1") == probe
    assert await catalog.get_probe("nope") is None
    await catalog.touch_probe("fra-1", T0_MS + 10)
    await catalog.touch_probe("fra-1", T0_MS + 5)  # late: ignored
    await catalog.touch_probe("fra-1", T0_MS + 10)  # same time again is fine
    fra = await catalog.get_probe("fra-1")
    assert fra is not None and fra.last_seen_ms == T0_MS + 10
    assert [(p.probe_id, p.enabled, p.location) for p in await catalog.list_probes()] == [
        ("ams-1", False, None), ("fra-1", True, SYD.name),
    ]  # fmt: skip
    assert [p.probe_id for p in await catalog.list_probes(after="ams-1", limit=1)] == ["fra-1"]
    with pytest.raises(NotFoundError):
        await catalog.touch_probe("nope", T0_MS)
    with pytest.raises(NotFoundError):
        await catalog.put_probe(Probe(probe_id="x", token_hash="h", location="atlantis"))
    with pytest.raises(InvalidSpecError):
        await catalog.put_probe(Probe(probe_id="bad id!", token_hash="h"))
    status = await catalog.status(fresh_since_ms=T0_MS)
    assert (status.probes, status.probes_enabled, status.locations) == (2, 1, 5)


async def test_users_and_settings(catalog: Any) -> None:
    hashed = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    await catalog.put_user(User(name="ann", password_hash=hashed, role="admin"))
    await catalog.put_user(User(name="bob", password_hash="x", role="viewer"))
    await catalog.put_user(User(name="bob", password_hash="y", role="operator"))
    assert await catalog.get_user("ann") == User(name="ann", password_hash=hashed, role="admin")
    assert [(u.name, u.role) for u in await catalog.list_users()] == [
        ("ann", "admin"), ("bob", "operator"),
    ]  # fmt: skip
    assert [u.name for u in await catalog.list_users(after="ann")] == ["bob"]
    with pytest.raises(InvalidSpecError):
        await catalog.put_user(User(name="eve", password_hash="x", role="root"))  # type: ignore[arg-type]
    assert await catalog.delete_user("bob") is True
    assert await catalog.delete_user("bob") is False
    assert await catalog.get_user("bob") is None
    assert (await catalog.status(fresh_since_ms=0)).users == 1

    assert await catalog.get_settings() == Settings(paused=False)
    await catalog.put_settings(Settings(paused=True))
    assert await catalog.get_settings() == Settings(paused=True)
