"""Catalogue import on every catalogue backend: the samples give the same ranges and
locations everywhere, and importing a file again changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.memory import FakeClock, InMemoryMeasurementStore
from cloudperf_core.importers import Format
from cloudperf_core.service.admin import import_catalog
from tests.unit.test_importers import CITIES, IP2ASN

FRANKFURT_A = "AS64510 DE Frankfurt am Main, Hesse"
SYDNEY_B = "AS64511 AU Sydney, New South Wales"
EXPECTED = [
    ("10.231.0.0", "10.231.63.255", FRANKFURT_A),
    ("10.231.64.0", "10.231.127.255", "AS64510 DE Berlin"),
    ("10.231.128.0", "10.231.255.255", SYDNEY_B),
    ("192.0.2.0", "192.0.2.127", "AS64496 AU Sydney, New South Wales"),
    ("192.0.2.128", "192.0.2.255", "AS64497 AU Sydney, New South Wales"),
    ("198.51.100.0", "198.51.100.255", "US San Jose, California"),
    ("203.0.113.0", "203.0.113.127", "AS64498 DE Frankfurt am Main, Hesse"),
    ("203.0.113.128", "203.0.113.255", "AS64498 CH Zürich, Zurich"),
    ("2001:db8::", "2001:db8:0:ffff:ffff:ffff:ffff:ffff", "AS64496 AU Sydney, New South Wales"),
    ("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "AS64499 JP Tokyo"),
    ("fd00:231::", "fd00:231:7fff:ffff:ffff:ffff:ffff:ffff", FRANKFURT_A),
    ("fd00:231:8000::", "fd00:231:ffff:ffff:ffff:ffff:ffff:ffff", SYDNEY_B),
]  # fmt: skip


async def test_the_samples_import_alike_everywhere_and_again_changes_nothing(catalog: Any) -> None:
    store = InMemoryMeasurementStore()
    steps: list[tuple[Path, Format]] = [(IP2ASN, "ip2asn"), (CITIES, "cities"), (IP2ASN, "ip2asn")]
    for path, kind in steps:
        result = await import_catalog(catalog, store, path, kind, clock=FakeClock(), chunk_lines=4)
        assert result.skipped == 0

    ranges = await catalog.list_ranges(limit=100)
    assert [(r.start, r.end, r.location) for r in ranges] == EXPECTED
    zurich = await catalog.locate("203.0.113.200")
    assert (zurich.city, zurich.country_name, zurich.asn, zurich.asn_name) == (
        "Zürich", "Switzerland", 64498, "EXAMPLE-IX Beispiel-Austauschpunkt e.V.",
    )  # fmt: skip
    assert (zurich.latitude, zurich.longitude) == (47.3769, 8.54169)
    assert [loc.name for loc in await catalog.search("as64510 berlin")] == ["AS64510 DE Berlin"]
    assert (await catalog.get_settings()).imports == {}
