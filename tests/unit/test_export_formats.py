"""Influx line protocol and OpenMetrics exports, and the /metrics snapshot, on memory:// and
SQLite stores: parsed back, their numbers equal the query results of the same windows."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample, Timestamp

from cloudperf_core import service
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.catalog import AddressRange, Location, Probe
from cloudperf_core.cli.main import main
from cloudperf_core.models import Grouping, GroupStats, StatsQuery
from cloudperf_core.service.export import EXPORT_FORMATS, export_lines, export_rows
from cloudperf_core.service.export_text import OPENMETRICS_FAMILIES
from cloudperf_core.service.metrics import metrics_snapshot, render_openmetrics
from tests.unit.test_export import T0_S, report

# A name with every character line protocol and OpenMetrics escape.
ODD = Location(name='Syd, "ney" = 1\\2', country_code="AU", asn=64511)
PAIR = Grouping(source="probe", dest="target")


def start_of(sample: Sample) -> int:
    assert isinstance(sample.timestamp, Timestamp)
    return sample.timestamp.sec


def parse_openmetrics(text: str) -> list[Metric]:
    """prometheus-client's own parser (it raises on anything not valid OpenMetrics)."""
    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


@pytest.fixture(params=["memory", "sqlite"])
async def services(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Services]:
    url = f"memory://{uuid.uuid4().hex}" if request.param == "memory" else (
        f"sqlite:///{tmp_path}/store.db"
    )  # fmt: skip
    async with Services(Config(store=url)) as opened:
        await seed(opened)
        yield opened


async def seed(opened: Services) -> None:
    catalog = await opened.catalog()
    await catalog.put_locations([ODD])
    await catalog.put_ranges(
        [AddressRange(start="10.231.200.0", end="10.231.200.1", location=ODD.name)]
    )
    await catalog.put_probe(Probe(probe_id="fra-1", token_hash="0" * 64, location=ODD.name))
    reports = [
        report(1, "fra-1", T0_S, [1000, 3000, None, 5000]),
        report(2, "syd-1", T0_S + 5, [7000, 9000, 11000, 13000]),
        report(3, "fra-1", T0_S + 60, [4000, None, None, None]),
        report(4, "fra-1", T0_S + 7200, [1000, 1500, 2500, 800]),
    ]
    await service.ingest_reports(await opened.store(), reports, catalog=catalog)


async def text(services: Services, fmt: str, grouping: Grouping = PAIR) -> str:
    rows = export_rows(
        await services.store(), await services.catalog(), since_s=T0_S, until_s=T0_S + 3 * 3600,
        group_by=grouping,
    )  # fmt: skip
    return "".join([line async for line in export_lines(rows, fmt)])  # type: ignore[arg-type]


async def stored(services: Services, start_s: int, grouping: Grouping) -> dict[Any, GroupStats]:
    groups = await service.query_stats(
        await services.store(), StatsQuery(since_s=start_s, until_s=start_s + 1), grouping,
        catalog=await services.catalog(),
    )  # fmt: skip
    return {(g.source, g.dest): g for g in groups}


_TAG = re.compile(r",(\w+)=((?:\\.|[^\\, ])+)")


def parse_influx(line: str) -> tuple[dict[str, str], dict[str, float | int], int]:
    """One line of line protocol (as Telegraf reads it): tags, fields, timestamp."""
    head, fields_text, ts = re.fullmatch(r"((?:\\.|[^\\ ])+) (\S+) (\d+)", line).groups()  # type: ignore[union-attr]
    measurement, _, tags_text = head.partition(",")
    assert measurement == "cloudperf"
    tags = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _TAG.findall("," + tags_text) if tags_text}
    fields: dict[str, float | int] = {}
    for item in fields_text.split(","):
        key, value = item.split("=")
        fields[key] = int(value[:-1]) if value.endswith("i") else float(value)
    return tags, fields, int(ts)


@pytest.mark.parametrize("grouping", [PAIR, Grouping(source="probe", dest="location")])
async def test_influx_lines_round_trip_to_the_query_results(
    services: Services, grouping: Grouping
) -> None:
    lines = (await text(services, "influx", grouping)).splitlines()
    assert len(lines) == 8  # 4 windows x 2 targets (one located, one not)
    for line in lines:
        tags, fields, ts_ns = parse_influx(line)
        start_s = ts_ns // 1_000_000_000
        g = (await stored(services, start_s, grouping))[(tags.get("source"), tags.get("dest"))]
        s = g.stats
        assert (fields["sent"], fields["received"], fields["duplicates"]) == (
            s.sent, s.received, s.duplicates,
        )  # fmt: skip
        assert fields["windows"] == g.windows and fields["window_s"] == 60
        assert fields["loss_ratio"] == round(s.loss_ratio, 6)  # type: ignore[arg-type]
        for name in ("min", "max", "p50", "p90", "p99"):
            want = getattr(s, f"{name}_us")
            assert fields.get(f"{name}_ms") == (None if want is None else round(want / 1000, 3))
    if grouping != PAIR:
        assert any(parse_influx(line)[0].get("dest") == ODD.name for line in lines)


async def test_openmetrics_export_parses_and_equals_the_query_results(
    services: Services,
) -> None:
    body = await text(services, "openmetrics")
    assert body.endswith("# EOF\n")
    fams = {f.name: f for f in parse_openmetrics(body)}
    assert list(fams) == [name for name, *_ in OPENMETRICS_FAMILIES]
    samples = 0
    for name, field in (("sent", "sent"), ("received", "received"), ("duplicates", "duplicates")):
        for s in fams[f"cloudperf_window_probes_{name}"].samples:
            g = (await stored(services, start_of(s), PAIR))[(s.labels["source"], s.labels["dest"])]
            assert s.value == getattr(g.stats, field) and s.labels["window_s"] == "60"
            samples += 1
    assert samples == 3 * 8
    for s in fams["cloudperf_window_rtt_seconds"].samples:
        g = (await stored(services, start_of(s), PAIR))[(s.labels["source"], s.labels["dest"])]
        stat = {"avg": "mean"}.get(s.labels["stat"], s.labels["stat"])
        want_ms = round(getattr(g.stats, f"{stat}_us") / 1000, 3)
        assert s.value == pytest.approx(want_ms / 1000, rel=1e-12)


async def test_metrics_snapshot_counts_all_windows_and_quantiles_of_the_newest(
    services: Services,
) -> None:
    store, catalog = await services.store(), await services.catalog()
    now_s = T0_S + 7200 + 60 + 120  # the last window just settled
    grouping = Grouping(source="probe", dest="location")
    snapshot = await metrics_snapshot(
        store, catalog, now_s=now_s, grouping=grouping, max_series=10, lookback_s=3 * 3600
    )
    fams = {f.name: f for f in parse_openmetrics(render_openmetrics(snapshot).decode())}
    sent = {(s.labels["source"], s.labels["dest"]): s.value
            for s in fams["cloudperf_probes_sent"].samples}  # fmt: skip
    # 10.231.200.2 is in no range: its windows count under dest "".
    assert sent == {("fra-1", ODD.name): 12, ("fra-1", ""): 12, ("syd-1", ODD.name): 4,
                    ("syd-1", ""): 4}  # fmt: skip
    p50 = {(s.labels["source"], s.labels["dest"]): s.value
           for s in fams["cloudperf_rtt_quantile_seconds"].samples
           if s.labels["quantile"] == "0.5" and s.labels["dest"]}  # fmt: skip
    newest_fra = (await stored(services, T0_S + 7200, grouping))[("fra-1", ODD.name)]
    newest_syd = (await stored(services, T0_S, grouping))[("syd-1", ODD.name)]
    assert p50 == {
        ("fra-1", ODD.name): pytest.approx(newest_fra.stats.p50_us / 1e6, rel=1e-12),  # type: ignore[operator]
        ("syd-1", ODD.name): pytest.approx(newest_syd.stats.p50_us / 1e6, rel=1e-12),  # type: ignore[operator]
    }
    # One second earlier the last window has not settled: fra-1's figures are a minute older.
    earlier = await metrics_snapshot(
        store, catalog, now_s=now_s - 1, grouping=grouping, max_series=10, lookback_s=3 * 3600
    )
    assert {g.window_start_s for g in earlier.groups if g.source == "fra-1"} == {T0_S + 60}


def test_cloudperf_export_prints_each_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"

    async def expected() -> dict[str, str]:
        async with Services(Config(store=url)) as opened:
            await seed(opened)
            return {fmt: await text(opened, fmt) for fmt in EXPORT_FORMATS}

    want = anyio.run(expected)
    since, until = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
                    for t in (T0_S, T0_S + 3 * 3600))  # fmt: skip
    for fmt in EXPORT_FORMATS:
        argv = ["export", "--store", url, "--since", since, "--until", until, "--format", fmt]
        assert main(argv) == 0
        assert capsys.readouterr().out == want[fmt]
    assert "cloudperf_window_probes_sent{" in want["openmetrics"]
    with pytest.raises(SystemExit) as refused:
        main(["export", "--store", url, "--since", "2h", "--format", "xml"])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
