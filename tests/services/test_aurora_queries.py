"""Retention, round trips and SQL safety of the Aurora adapter on MariaDB (the catalogue and
queries by place are in the contract suites)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from adapters.aurora import sql as aurora_sql
from cloudperf_core.catalog import AddressRange, DiscoverySweep, Location, RetentionPolicy, User
from cloudperf_core.models import MeasurementReport, ProbeSpec, StatsQuery, TargetResult
from cloudperf_core.service import ingest_reports
from cloudperf_core.windows.aggregate import summarize, windows_for_reports
from tests.contract.makers.aurora import temp_database
from tests.support.mysql_spy import record_statements

T0_S = 1_700_006_400  # a day boundary


def _report(
    rid: str, at_s: int, target: str, rtts: list[int], source: str = "probe-a"
) -> MeasurementReport:
    return MeasurementReport(
        report_id=rid,
        source=source,
        started_at_ms=at_s * 1000,
        spec=ProbeSpec(targets=(target,), count=len(rtts)),
        results=[
            TargetResult(target=target, sent=len(rtts), received=len(rtts), rtts_us=list(rtts))
        ],
    )


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
        await store.catalog.put_locations([Location(name="lab", country_code="AU")])
        await store.catalog.put_ranges(
            [AddressRange(start="198.51.100.0", end="198.51.100.255", location="lab")]
        )
        await ingest_reports(store, reports, catalog=store.catalog)
        before = await store.fetch_windows(StatsQuery())
        assert {w.window_s for w in before} == {60}
        await store.catalog.record_sweep(
            DiscoverySweep(report_id="old-sweep", start="198.51.100.0", end="198.51.100.9",
                           found=(), at_ms=(now - 31 * day) * 1000)
        )  # fmt: skip

        result = await store.apply_retention(now)
        after = await store.fetch_windows(StatsQuery())
        sizes = sorted((w.window_s, w.window_start_s) for w in after)
        assert [s for s, _ in sizes] == [60, 60, 3600, 86400]  # recent, 3 days, 40 days
        assert result.rolled_up == 6 + 2  # 6 old minute rows, then 2 hour rows over 30 days
        assert result.expired == 1
        kept = [w for w in before if w.window_start_s >= now - 400 * day]
        s_before, s_after = summarize(kept), summarize(after)
        assert s_after.sent == s_before.sent and s_after.p95_us == s_before.p95_us
        assert s_after.min_us == s_before.min_us and s_after.max_us == s_before.max_us
        assert {w.dest_location_id for w in after} == {w.dest_location_id for w in before} != {None}
        assert result.sweep_ids_expired == 1
        # Running it again changes nothing.
        again = await store.apply_retention(now)
        assert (again.rolled_up, again.expired) == (0, 0)
        assert await store.fetch_windows(StatsQuery()) == after


async def test_a_custom_policy_must_nest_its_windows() -> None:
    from cloudperf_core.errors import InvalidSpecError

    async with temp_database() as (_, store):
        with pytest.raises(InvalidSpecError):
            await store.apply_retention(T0_S, RetentionPolicy(tiers=((60, 10), (90, 10))))


async def test_injection_strings_are_stored_verbatim() -> None:
    nasty = ["x'); DROP TABLE measurements; --", 'a"b\\c%_', "Robert'); DELETE FROM users;#", "😀"]
    async with temp_database() as (_, store):
        reports = [_report(f"n{i}", T0_S, t, [1000], source=t) for i, t in enumerate(nasty)]
        # Straight to the store: ingest_reports would refuse such targets (not host names).
        await store.ingest(windows_for_reports(reports, 60))
        got = await store.fetch_windows(StatsQuery(targets=tuple(nasty)))
        assert sorted(w.target for w in got) == sorted(nasty)
        assert sorted(w.source for w in got) == sorted(nasty)
        await store.catalog.put_locations([Location(name=n) for n in nasty])
        assert [loc.name for loc in await store.catalog.search("%_")] == [nasty[1]]
        await store.catalog.put_user(User(name=nasty[2], password_hash=nasty[0], role="admin"))
        user = await store.catalog.get_user(nasty[2])
        assert user is not None and user.password_hash == nasty[0]


async def test_a_batch_of_1000_ids_is_one_statement_with_1000_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert aurora_sql.in_list(aurora_sql.SELECT_INGESTED_IDS, 1000).count("%s") == 1000
    async with temp_database() as (_, store):
        statements = record_statements(monkeypatch)
        await ingest_reports(store, [_report("warm", T0_S, "192.0.2.1", [1])])

        async def count(n: int, prefix: str) -> int:
            statements.clear()
            batch = [_report(f"{prefix}{i}", T0_S + i, f"192.0.2.{i % 5}", [i]) for i in range(n)]
            outcome = await ingest_reports(store, batch)
            assert len(outcome.ingested) == n
            return len(statements)

        ten, thousand = await count(10, "a"), await count(1000, "b")
        assert ten == thousand <= 6  # round trips do not grow with the batch
        first_sql, first_args = statements[0]  # every id bound in one IN list
        assert first_sql.count("%s") == 1000
        assert sum(str(a).startswith("b") for a in first_args) == 1000


async def test_locating_1000_addresses_takes_a_handful_of_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with temp_database() as (_, store):
        await store.catalog.put_locations([Location(name="v4"), Location(name="v6")])
        await store.catalog.put_ranges(
            [
                AddressRange(start="198.51.100.0", end="198.51.100.127", location="v4"),
                AddressRange(start="2001:db8::", end="2001:db8::ffff", location="v6"),
            ]
        )
        addresses = [f"198.51.100.{i % 256}" for i in range(500)]
        addresses += [f"2001:db8::{i:x}" for i in range(500)]
        statements = record_statements(monkeypatch)
        found = await store.catalog.locate_many(addresses)
        assert 1 <= len(statements) <= 5  # (schema checked above) one UNION ALL per 300
        assert {a for a, loc in found.items() if loc.name == "v4"} == {
            f"198.51.100.{i}" for i in range(128)
        }
        assert sum(loc.name == "v6" for loc in found.values()) == 500


def test_no_sql_is_built_from_values() -> None:
    """Every execute() gets a constant or a placeholder-expanded constant, never an f-string."""
    root = Path(__file__).resolve().parents[2] / "adapters"
    paths = sorted([*root.glob("aurora/*.py"), *root.glob("sqlite/*.py")])
    assert len(paths) >= 10  # the adapters' modules were found at all
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "execute":
                sql_arg = node.args[0]
                assert not isinstance(sql_arg, ast.JoinedStr), f"{path.name}:{node.lineno}"
                assert not (isinstance(sql_arg, ast.BinOp) and isinstance(sql_arg.op, ast.Mod)), (
                    f"{path.name}:{node.lineno}"
                )
