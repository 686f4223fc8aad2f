"""The catalogue's shared rules: discovery history, validation, search text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudperf_core.catalog import (
    HISTORY_NEW,
    HISTORY_STABLE,
    DiscoverySweep,
    Location,
    checked_location,
    checked_sweep,
    like_pattern,
    next_history,
    reachability,
    search_terms,
    search_text,
    sweep_histories,
)
from cloudperf_core.errors import InvalidSpecError


@given(st.lists(st.booleans(), max_size=12))
def test_history_holds_the_last_four_rounds_newest_in_bit_3(rounds: list[bool]) -> None:
    history = 0
    for found in rounds:
        history = next_history(history, found)
    last4 = rounds[-4:][::-1]  # newest first
    assert history == sum(int(found) << (3 - i) for i, found in enumerate(last4))


def test_history_milestones() -> None:
    h = next_history(0, True)
    assert (h, reachability(h)) == (HISTORY_NEW, "new")
    for _ in range(3):
        h = next_history(h, True)
    assert (h, reachability(h)) == (HISTORY_STABLE, "stable")
    h = next_history(h, False)
    assert (h, reachability(h)) == (0b0111, "lost")
    assert reachability(next_history(h, True)) == "intermittent"
    for _ in range(3):
        h = next_history(h, False)
    assert h == 0  # silent for four rounds: forgotten


def test_a_sweep_ages_the_tracked_and_adds_the_found() -> None:
    tracked = {"a": 0b1000, "b": 0b0001, "c": 0b1111}
    assert sweep_histories(tracked, ["c", "d"]) == {"a": 0b0100, "b": 0, "c": 0b1111, "d": 0b1000}


def test_sweeps_must_keep_to_their_range() -> None:
    ok = DiscoverySweep(report_id="s1", start="2001:db8::", end="2001:db8::ff",
                        found=("2001:db8::7", "2001:DB8::7"), at_ms=0)  # fmt: skip
    version, lo, hi, addresses = checked_sweep(ok)
    assert (version, str(lo), str(hi), [str(a) for a in addresses]) == (
        6, "2001:db8::", "2001:db8::ff", ["2001:db8::7"],
    )  # fmt: skip
    for start, end, found in [
        ("198.51.100.0", "198.51.100.15", ("198.51.100.16",)),
        ("198.51.100.0", "198.51.100.15", ("2001:db8::1",)),
        ("198.51.100.9", "198.51.100.0", ()),
    ]:
        with pytest.raises(InvalidSpecError):
            checked_sweep(DiscoverySweep(report_id="s", start=start, end=end, found=found, at_ms=0))


def test_locations_are_normalised_and_searchable() -> None:
    loc = checked_location(
        Location(name="AS13335 Sydney", country_code="au", country_name="Australia",
                 city="Sydney", asn=13335, asn_name="CLOUDFLARENET", location_id=7)
    )  # fmt: skip
    assert (loc.country_code, loc.location_id) == ("AU", None)
    assert search_text(loc) == "as13335 sydney as13335 cloudflarenet au australia sydney"
    assert search_terms("  Sydney  AS13335 sydney ") == ["sydney", "as13335"]
    with pytest.raises(InvalidSpecError):
        search_terms(" ".join(f"w{i}" for i in range(9)))


def test_like_patterns_match_metacharacters_literally() -> None:
    assert like_pattern("50%_off!") == "%50!%!_off!!%"
