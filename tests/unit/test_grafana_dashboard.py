"""The Grafana dashboard in docs/grafana: valid JSON whose every query names only metrics
that GET /metrics really serves (a renamed metric would leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cloudperf_core.models import Grouping, LatencyStats
from cloudperf_core.service.metrics import GroupMetrics, MetricsSnapshot, render_openmetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "cloudperf.json"


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in expressions(value)]
    return []


def test_every_query_names_a_served_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    stats = LatencyStats(sent=10, received=9, loss_ratio=0.1, min_us=900.0, mean_us=1000.0,
                         max_us=1200.0, p50_us=1000.0, p70_us=1000.0, p90_us=1100.0,
                         p95_us=1150.0, p99_us=1200.0)  # fmt: skip
    snapshot = MetricsSnapshot(
        grouping=Grouping(source="probe", dest="location"), max_series=1,
        groups=[GroupMetrics(source="syd-1", dest="AU", sent=10, received=9, duplicates=0,
                             window_start_s=60, window_s=60, window=stats)],
    )  # fmt: skip
    body = render_openmetrics(snapshot).decode()
    served = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line[:1] != "#"}
    queries = expressions(dashboard["panels"]) + expressions(dashboard["templating"])
    queries += [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    named = {m for q in queries for m in re.findall(r"\bcloudperf_\w+", q)}
    assert len(dashboard["panels"]) >= 6 and named
    assert named <= served, named - served
    assert {"cloudperf_rtt_quantile_seconds", "cloudperf_probes_sent_total"} <= named
