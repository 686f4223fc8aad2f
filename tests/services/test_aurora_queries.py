"""Catalogue, grouped queries, retention and SQL safety of the Aurora adapter on MariaDB."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from adapters.aurora import AuroraMeasurementStore
from adapters.aurora import sql as aurora_sql
from adapters.aurora.catalog import AddressRange, Location, Probe, User
from adapters.aurora.retention import RetentionPolicy
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import ingest_reports
from cloudperf_core.windows.aggregate import summarize
from tests.contract.makers.aurora import temp_database

pytestmark = pytest.mark.services

T0_S = 1_700_006_400  # a day boundary
LOCATIONS = [
    Location(name="AS100 Sydney", country="AU", city="Sydney", asn=100, latitude=-33.9),
    Location(name="AS100 New York", country="US", city="New York", asn=100),
    Location(name="AS200 Sydney", country="AU", city="Sydney", asn=200),
]
RANGES = [
    AddressRange(start="198.51.100.0", end="198.51.100.255", location="AS100 Sydney"),
    AddressRange(start="203.0.113.0", end="203.0.113.127", location="AS100 New York"),
    AddressRange(start="2001:db8::", end="2001:db8::ffff", location="AS200 Sydney"),
]
TARGET_RTTS_US = {  # each batch: 5 probes; batches differ a lot so averaging would show
    "198.51.100.7": [[10_000] * 5, [10_000] * 5, [90_000] * 5],
    "203.0.113.9": [[20_000] * 5, [200_000] * 5, [20_000] * 5],
    "2001:db8::1": [[5_000, 6_000, 7_000, 8_000, 9_000]] * 3,
}


def _report(
    rid: str, at_s: int, target: str, rtts: list[int], source: str = "probe-a"
) -> MeasurementReport:
    return MeasurementReport(
        report_id=rid,
        source=source,
        started_at_ms=at_s * 1000,
        spec=ProbeSpec(targets=(target,), count=len(rtts)),
        results=[TargetResult(target=target, sent=len(rtts), received=len(rtts), rtts_us=rtts)],
    )


async def _seed(store: AuroraMeasurementStore) -> None:
    await store.catalog.import_locations(LOCATIONS)
    assert await store.catalog.import_ranges(RANGES) == 3
    reports = [
        _report(f"{t}-{b}", T0_S + b * 60, t, rtts)
        for t, batches in TARGET_RTTS_US.items()
        for b, rtts in enumerate(batches)
    ]
    await ingest_reports(store, reports)


def _pooled_p95(*targets: str) -> float:
    values = [v for t in targets for batch in TARGET_RTTS_US[t] for v in batch]
    return float(np.percentile(values, 95))


async def test_locate_and_search() -> None:
    async with temp_database() as (_, store):
        await store.catalog.import_locations(LOCATIONS)
        await store.catalog.import_ranges(RANGES)
        syd = await store.catalog.locate("198.51.100.200")
        assert syd is not None and (syd.name, syd.asn, syd.city) == ("AS100 Sydney", 100, "Sydney")
        v6 = await store.catalog.locate("2001:db8::abcd")
        assert v6 is not None and v6.name == "AS200 Sydney"
        assert await store.catalog.locate("203.0.113.200") is None  # past the range's end
        assert await store.catalog.locate("10.0.0.1") is None
        assert [loc.name for loc in await store.catalog.search_locations(asn=100)] == [
            "AS100 New York",
            "AS100 Sydney",
        ]
        assert [loc.name for loc in await store.catalog.search_locations(name="Sydney")] == [
            "AS100 Sydney",
            "AS200 Sydney",
        ]


async def test_grouped_percentiles_come_from_merged_sketches() -> None:
    async with temp_database() as (_, store):
        await _seed(store)
        by_asn = {g.key: g for g in await store.catalog.query_stats(group_by="asn")}
        assert set(by_asn) == {"AS100", "AS200"}
        p95 = by_asn["AS100"].stats.p95_us
        exact = _pooled_p95("198.51.100.7", "203.0.113.9")
        assert p95 is not None and abs(p95 - exact) <= 0.01 * exact
        assert by_asn["AS100"].stats.sent == 30 and by_asn["AS100"].windows == 6

        by_city = {g.key: g.stats for g in await store.catalog.query_stats(group_by="city")}
        exact = _pooled_p95("198.51.100.7", "2001:db8::1")
        assert abs((by_city["AU/Sydney"].p95_us or 0) - exact) <= 0.01 * exact

        pairs = await store.catalog.query_stats(group_by="pair", destinations=["203.0.113.9"])
        assert [(g.source, g.key) for g in pairs] == [("probe-a", "203.0.113.9")]
        # Batch p95s are 20, 200, 20 ms: their average (80 ms) is not the pooled p95.
        assert abs((pairs[0].stats.p95_us or 0) - 200_000) <= 2_000

        overall = await store.catalog.query_stats(group_by="overall", since_s=T0_S + 60)
        assert len(overall) == 1 and overall[0].stats.sent == 30  # batches 1 and 2 only


async def test_retention_rolls_up_with_merged_sketches_and_expires() -> None:
    day = 86_400
    now = T0_S + 1000 * day
    async with temp_database() as (_, store):
        reports = []
        for i, age_days in enumerate([0.01, 3, 3, 40, 500]):
            at = int(now - age_days * day)
            rtts = [1000 * (i + 1) + k for k in range(10)]
            reports.append(_report(f"r{i}", at, "198.51.100.7", rtts))
            reports.append(_report(f"r{i}b", at + 120, "198.51.100.7", [r * 3 for r in rtts]))
        await ingest_reports(store, reports)
        before = await store.fetch_windows(StatsQuery())
        assert {w.window_s for w in before} == {60}

        result = await store.catalog.apply_retention(now)
        after = await store.fetch_windows(StatsQuery())
        sizes = sorted((w.window_s, w.window_start_s) for w in after)
        assert [s for s, _ in sizes] == [60, 60, 3600, 86400]  # recent, 3 days, 40 days
        assert result.rolled_up == 6 + 2  # 6 old minute rows, then 2 hour rows over 30 days
        assert result.expired == 1
        kept = [w for w in before if w.window_start_s >= now - 400 * day]
        s_before, s_after = summarize(kept), summarize(after)
        assert s_after.sent == s_before.sent and s_after.p95_us == s_before.p95_us
        assert s_after.min_us == s_before.min_us and s_after.max_us == s_before.max_us
        # Running it again changes nothing.
        again = await store.catalog.apply_retention(now)
        assert (again.rolled_up, again.expired) == (0, 0)
        assert await store.fetch_windows(StatsQuery()) == after


async def test_a_custom_policy_must_nest_its_windows() -> None:
    from cloudperf_core.errors import InvalidSpecError

    async with temp_database() as (_, store):
        with pytest.raises(InvalidSpecError):
            await store.catalog.apply_retention(T0_S, RetentionPolicy(tiers=((60, 10), (90, 10))))


async def test_injection_strings_are_stored_verbatim() -> None:
    nasty = ["x'); DROP TABLE measurements; --", 'a"b\\c%_', "Robert'); DELETE FROM users;#", "😀"]
    async with temp_database() as (_, store):
        reports = [_report(f"n{i}", T0_S, t, [1000], source=t) for i, t in enumerate(nasty)]
        await ingest_reports(store, reports)
        got = await store.fetch_windows(StatsQuery(targets=tuple(nasty)))
        assert sorted(w.target for w in got) == sorted(nasty)
        assert sorted(w.source for w in got) == sorted(nasty)
        await store.catalog.import_locations([Location(name=n) for n in nasty])
        assert [loc.name for loc in await store.catalog.search_locations(name="%_")] == [nasty[1]]
        await store.catalog.put_user(User(user_name=nasty[2], password_hash=nasty[0], role="admin"))
        user = await store.catalog.get_user(nasty[2])
        assert user is not None and user.password_hash == nasty[0]


async def test_a_batch_of_1000_ids_is_one_statement_with_1000_placeholders() -> None:
    assert aurora_sql.in_list(aurora_sql.SELECT_INGESTED_IDS, 1000).count("%s") == 1000
    async with temp_database() as (_, store):
        statements: list[str] = []
        store.database.on_statement = statements.append
        await ingest_reports(store, [_report("warm", T0_S, "192.0.2.1", [1])])

        async def count(n: int, prefix: str) -> int:
            statements.clear()
            batch = [_report(f"{prefix}{i}", T0_S + i, f"192.0.2.{i % 5}", [i]) for i in range(n)]
            outcome = await ingest_reports(store, batch)
            assert len(outcome.ingested) == n
            return len(statements)

        ten, thousand = await count(10, "a"), await count(1000, "b")
        assert ten == thousand <= 6  # round trips do not grow with the batch
        assert sum(s.count("'b") for s in statements[:1]) == 1000  # every id bound in one IN


async def test_discovery_history_shifts_and_forgets() -> None:
    async with temp_database() as (_, store):
        cat = store.catalog
        rounds = [
            ["198.51.100.1", "198.51.100.2"],
            ["198.51.100.1"],
            ["198.51.100.1"],
            ["198.51.100.1"],
            [],
        ]
        seen = []
        for i, found in enumerate(rounds):
            await cat.record_discovery("198.51.100.0", "198.51.100.255", found, T0_S + i)
            seen.append(await cat.reachable("198.51.100.0", "198.51.100.255"))
        assert seen[0] == {"198.51.100.1": 0b1000, "198.51.100.2": 0b1000}
        assert seen[3] == {"198.51.100.1": 0b1111, "198.51.100.2": 0b0001}
        assert seen[4] == {"198.51.100.1": 0b0111}  # .2 reached 0 and was deleted


async def test_probes_and_groups() -> None:
    async with temp_database() as (_, store):
        cat = store.catalog
        await cat.import_locations(LOCATIONS)
        await cat.put_probe(
            Probe(probe_id="p1", token_hash="scrypt$x", role="probe", location="AS100 Sydney")
        )
        await cat.touch_probe("p1", T0_S)
        probe = await cat.get_probe("p1")
        assert probe is not None and (probe.location, probe.last_seen_s) == ("AS100 Sydney", T0_S)
        assert await cat.get_probe("nope") is None
        await cat.set_group("apac", ["AS200 Sydney", "AS100 Sydney"])
        assert await cat.group_locations("apac") == ["AS100 Sydney", "AS200 Sydney"]


def test_no_sql_is_built_from_values() -> None:
    """Every execute() gets a constant or a placeholder-expanded constant, never an f-string."""
    root = Path(__file__).resolve().parents[2] / "adapters"
    for path in sorted(root.glob("aurora*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "execute":
                sql_arg = node.args[0]
                assert not isinstance(sql_arg, ast.JoinedStr), f"{path.name}:{node.lineno}"
                assert not (isinstance(sql_arg, ast.BinOp) and isinstance(sql_arg.op, ast.Mod)), (
                    f"{path.name}:{node.lineno}"
                )
