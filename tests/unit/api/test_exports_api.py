"""GET /metrics and GET /v1/export over the seeded world.

/metrics is parsed with prometheus-client's own OpenMetrics parser and its numbers compared
with the raw samples (counters, exactly) and with the stored stats of each group's newest
complete window (quantiles, min/mean/max). /v1/export is parsed back and compared with the
query results, and shown to stream: body chunks go out before the store is read to the end.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from cloudperf_core import service
from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.models import Grouping, ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.service.export import EXPORT_COLUMNS
from cloudperf_core.service.metrics import CONTENT_TYPE, QUANTILES
from cloudperf_core.settings import settings_from_env
from tests.unit.api.conftest import client_for
from tests.unit.api.seeding import PROBES, TARGETS, World, exact

Labels = tuple[str, str]
SCRAPE_TOKEN = "s" * 40


def parse_openmetrics(text: str) -> list[Metric]:
    """prometheus-client's own parser (it raises on anything not valid OpenMetrics)."""
    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in parse_openmetrics(text)}


def by_labels(family: Any, *extra: str) -> dict[tuple[str, ...], float]:
    return {
        (s.labels["source"], s.labels["dest"], *(s.labels[e] for e in extra)): s.value
        for s in family.samples
    }


def dest_of(target: str) -> str:
    loc = TARGETS[target]
    return "" if loc is None else loc.name


async def test_metrics_parse_and_equal_the_stored_stats(
    client: httpx.AsyncClient, ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    got = await client.get("/metrics", headers=viewer)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == CONTENT_TYPE
    fams = families(got.text)
    sent = by_labels(fams["cloudperf_probes_sent"])
    received = by_labels(fams["cloudperf_probes_received"])
    dups = by_labels(fams["cloudperf_probes_duplicates"])
    pairs = {(p, dest_of(t)) for p in PROBES for t in TARGETS}
    assert set(sent) == pairs  # probe x location by default; "" = not located
    for probe, dest in pairs:
        want = exact(
            world.where(probes=[probe], targets=[t for t in TARGETS if dest_of(t) == dest])
        )
        assert (sent[probe, dest], received[probe, dest], dups[probe, dest]) == (
            want.sent, want.received, want.duplicates,
        )  # fmt: skip
    # Quantiles: the newest window that ended 120 s (metrics_settle_s) before now.
    now_s = ctx.clock.now_ms() // 1000
    newest = max(b.window_s for b in world.batches if b.window_s + 60 + 120 <= now_s)
    starts = by_labels(fams["cloudperf_window_start_seconds"])
    quantiles = by_labels(fams["cloudperf_rtt_quantile_seconds"], "quantile")
    extremes = by_labels(fams["cloudperf_rtt_seconds"], "stat")
    loss = by_labels(fams["cloudperf_window_loss_ratio"])
    stored = await service.query_stats(
        await ctx.services.store(), StatsQuery(since_s=newest, until_s=newest + 1),
        Grouping(source="probe", dest="location"), catalog=await ctx.services.catalog(),
    )  # fmt: skip
    assert len(stored) == len(pairs) == len(starts)
    for g in stored:
        key = (g.source or "", g.dest or "")
        assert starts[key] == newest
        assert loss[key] == pytest.approx(g.stats.loss_ratio, rel=1e-12)
        for label, name in QUANTILES:
            assert quantiles[(*key, label)] == pytest.approx(getattr(g.stats, name) / 1e6, 1e-12)
        for label, name in (("min", "min_us"), ("mean", "mean_us"), ("max", "max_us")):
            assert extremes[(*key, label)] == pytest.approx(getattr(g.stats, name) / 1e6, 1e-12)
    assert fams["cloudperf_other_groups"].samples[0].value == 0


async def test_metrics_keep_at_most_the_cap_of_groups_and_sum_the_rest(
    ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    ctx.settings = msgspec.structs.replace(
        ctx.settings, metrics_max_series=4, metrics_source_by="probe", metrics_dest_by="target"
    )
    got = await client_for(create_app(ctx)).get("/metrics", headers=viewer)
    fams = families(got.text)
    series = {
        (s.labels["source"], s.labels["dest"])
        for f in fams.values()
        for s in f.samples
        if "source" in s.labels
    }
    pairs = [(p, t) for p in PROBES for t in TARGETS]
    assert len(pairs) == 18 and len(series) == 4
    totals = {pair: exact(world.where(probes=[pair[0]], targets=[pair[1]])) for pair in pairs}
    # The four that sent most (then by key) are kept; the other 14 are summed.
    ranked = sorted(pairs, key=lambda pair: (-totals[pair].sent, pair))
    assert series == set(ranked[:4])
    rest = [totals[pair] for pair in ranked[4:]]
    assert fams["cloudperf_other_groups"].samples[0].value == 14
    assert fams["cloudperf_series_cap"].samples[0].value == 4
    other = {n: fams[f"cloudperf_other_probes_{n}"].samples[0].value for n in ("sent", "received")}
    assert other == {"sent": sum(e.sent for e in rest), "received": sum(e.received for e in rest)}


async def test_metrics_need_the_scrape_token_or_a_viewer(
    ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    client = client_for(create_app(ctx))
    for headers in ({}, {"authorization": f"Bearer {SCRAPE_TOKEN}"}, {"authorization": "Basic x"}):
        got = await client.get("/metrics", headers=headers)  # no token is configured yet
        assert got.status_code == 401 and set(got.json()) == {"error", "detail"}
    ctx.settings = msgspec.structs.replace(ctx.settings, metrics_token=SCRAPE_TOKEN)
    client = client_for(create_app(ctx))
    ok = await client.get("/metrics", headers={"authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert "cloudperf_probes_sent_total" in ok.text
    wrong = await client.get("/metrics", headers={"authorization": f"Bearer {SCRAPE_TOKEN}x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthenticated"
    assert (await client.get("/metrics", headers=viewer)).status_code == 200


def csv_rows(text: str) -> list[dict[str, str]]:
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == EXPORT_COLUMNS
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in table[1:]]


async def test_export_csv_and_jsonl_equal_the_query_results(
    client: httpx.AsyncClient, ctx: ApiContext, world: World, viewer: dict[str, str]
) -> None:
    since = world.now_ms // 1000 - 3600
    url = f"/v1/export?since={since}&source_by=probe&dest_by=country"
    got = await client.get(url, headers=viewer)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = csv_rows(got.text)
    lines = (await client.get(url + "&format=jsonl", headers=viewer)).text.splitlines()
    objects = [json.loads(line) for line in lines]
    assert len(rows) == len(objects) == 3 * 12 * 4  # probes x minutes x (3 countries + none)
    grouping = Grouping(source="probe", dest="country")
    store, catalog = await ctx.services.store(), await ctx.services.catalog()
    for row, obj in zip(rows, objects, strict=True):
        start = int(row["window_start_s"])
        expected = {
            (g.source, g.dest): g
            for g in await service.query_stats(
                store, StatsQuery(since_s=start, until_s=start + 1), grouping, catalog=catalog
            )
        }
        g = expected[(row["source"] or None, row["dest"] or None)]
        assert (obj["source"], obj["dest"]) == (g.source, g.dest)
        for name in ("sent", "received", "duplicates"):
            assert int(row[name]) == obj[name] == getattr(g.stats, name)
        assert float(row["p95_ms"]) == obj["p95_ms"] == round(g.stats.p95_us / 1000, 3)  # type: ignore[operator]


@pytest.mark.parametrize(
    "query",
    ["format=xml", "since=3h&until=4h", "group_by=pair&dest_by=asn", "probe=", "group_by=moon"],
)
async def test_export_refusals_are_4xx_with_a_reason(
    client: httpx.AsyncClient, viewer: dict[str, str], query: str
) -> None:
    got = await client.get(f"/v1/export?{query}", headers=viewer)
    assert got.status_code == 400 and set(got.json()) == {"error", "detail"}, got.text
    assert (await client.get("/v1/export")).status_code == 401


async def test_export_streams_many_rows_while_reading_the_store(
    ctx: ApiContext, viewer: dict[str, str]
) -> None:
    # 8 hours x 20 pairs of one-minute windows: the export reads an hour at a time.
    store = await ctx.services.store()
    now_s = ctx.clock.now_ms() // 1000
    day_start = now_s - now_s % 3600 - 8 * 3600
    events: list[str] = []
    rows = [
        WindowAggregate(
            source=f"p{p}", target=f"10.0.0.{t}", window_start_s=day_start + m * 60, window_s=60,
            sent=10, received=9, rtt_sum_us=9000, rtt_sumsq_us2=9e6, rtt_min_us=1000,
            rtt_max_us=1000,
        )
        for m in range(8 * 60) for p in range(4) for t in range(5)
    ]  # fmt: skip
    await store.ingest(
        [ReportWindows(report_id=f"bulk-{i}", windows=rows[i : i + 5000])
         for i in range(0, len(rows), 5000)]
    )  # fmt: skip
    fetch = store.fetch_windows

    async def counted(query: StatsQuery) -> Sequence[WindowAggregate]:
        events.append("fetch")
        return await fetch(query)

    store.fetch_windows = counted  # type: ignore[method-assign,assignment]
    app = create_app(ctx)
    body = bytearray()

    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the client stays connected until the answer is complete
            await anyio.sleep_forever()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            events.append("body")
            body.extend(message["body"])

    scope = {
        "type": "http", "method": "GET", "path": "/v1/export", "raw_path": b"/v1/export",
        "query_string": f"since={day_start}&until={now_s}&format=jsonl".encode(),
        "headers": [(b"authorization", viewer["authorization"].encode())],
        "http_version": "1.1", "scheme": "http", "server": ("testserver", 80),
        "client": ("127.0.0.1", 1), "root_path": "",
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]
    lines = bytes(body).splitlines()
    assert len(lines) == len(rows) == 9_600
    assert json.loads(lines[-1])["window_start_s"] == day_start + (8 * 60 - 1) * 60
    assert events.count("fetch") >= 8
    # Body chunks went out between the store reads: the answer was never held whole.
    first_body, last_fetch = events.index("body"), len(events) - 1 - events[::-1].index("fetch")
    assert first_body < last_fetch and events.count("body") > 8


def test_the_scrape_token_setting_is_checked_and_never_echoed() -> None:
    env = {"CLOUDPERF_METRICS_TOKEN": SCRAPE_TOKEN, "CLOUDPERF_METRICS_DEST_BY": "country"}
    settings = settings_from_env(env)
    assert (settings.metrics_token, settings.metrics_dest_by) == (SCRAPE_TOKEN, "country")
    for bad in ("short-secret-123", "x" * 31, "space in a token " * 3):
        with pytest.raises(BackendConfigError) as refused:
            settings_from_env({"CLOUDPERF_METRICS_TOKEN": bad})
        assert "metrics_token" in str(refused.value) and bad not in str(refused.value)
