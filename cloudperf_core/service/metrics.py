"""What ``GET /metrics`` tells Prometheus: per (source, destination) group, counters over
every stored window and RTT quantiles of the group's newest complete window, with a cap on
the number of groups. :func:`render_openmetrics` writes it in the OpenMetrics text format.

- ``cloudperf_probes_sent_total`` / ``_received_total`` / ``_duplicates_total``: sums over
  all stored windows of the group (retention roll-ups keep the sums; deleting windows shows
  as a counter reset, which ``rate()`` handles).
- ``cloudperf_rtt_quantile_seconds{quantile}`` (p50/p70/p90/p95/p99 from the merged sketch,
  within 1 %), ``cloudperf_rtt_seconds{stat}`` (min/mean/max, exact), ``cloudperf_window_*``:
  the newest window of the group that ended at least ``settle_s`` ago, looked for within
  ``lookback_s``; a group without one has no such series.
- Groups past ``max_series`` (ranked by probes sent, then by key, so the chosen set is
  stable between scrapes) are summed into the unlabelled ``cloudperf_other_*`` counters and
  counted in ``cloudperf_other_groups``; their quantiles are not exposed.

>>> snapshot = await metrics_snapshot(store, catalog, now_s=now, grouping=g, max_series=1000)
>>> body = render_openmetrics(snapshot)                                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import TYPE_CHECKING

import msgspec

from cloudperf_core.models import Grouping, LatencyStats, StatsQuery, WindowAggregate
from cloudperf_core.ports import Catalog, MeasurementStore
from cloudperf_core.service.queries import _place_index
from cloudperf_core.windows import group

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "CONTENT_TYPE",
    "QUANTILES",
    "GroupMetrics",
    "MetricsSnapshot",
    "metrics_snapshot",
    "render_openmetrics",
]

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
#: (quantile label, LatencyStats field)
QUANTILES = (("0.5", "p50_us"), ("0.7", "p70_us"), ("0.9", "p90_us"), ("0.95", "p95_us"),
             ("0.99", "p99_us"))  # fmt: skip
_STATS = (("min", "min_us"), ("mean", "mean_us"), ("max", "max_us"))
_GroupKey = tuple[str | None, str | None]


class GroupMetrics(msgspec.Struct, kw_only=True):
    """One (source, dest) group: counters over all windows, the newest complete window."""

    source: str | None
    dest: str | None
    sent: int
    received: int
    duplicates: int
    window_start_s: int | None = None
    window_s: int | None = None
    window: LatencyStats | None = None


class MetricsSnapshot(msgspec.Struct, kw_only=True):
    grouping: Grouping
    max_series: int
    groups: list[GroupMetrics]
    other_groups: int = 0
    other_sent: int = 0
    other_received: int = 0
    other_duplicates: int = 0


def _rank(g: GroupMetrics) -> tuple[int, bool, str, bool, str]:
    return (-g.sent, g.source is None, g.source or "", g.dest is None, g.dest or "")


async def metrics_snapshot(
    store: MeasurementStore,
    catalog: Catalog | None,
    *,
    now_s: int,
    grouping: Grouping,
    max_series: int,
    settle_s: int = 120,
    lookback_s: int = 900,
) -> MetricsSnapshot:
    """Counters of every group over all stored windows, the ``max_series`` groups that sent
    most kept (the rest summed), and each kept group's newest complete window."""
    grouping = group.grouping_for(grouping)
    rows = await store.fetch_windows(StatsQuery())
    places = None if catalog is None else await _place_index(catalog, rows, grouping)
    # Counters only: the sketches are not merged for them.
    counts = group.group_windows(
        (msgspec.structs.replace(r, sketch=b"") for r in rows), grouping, places
    )
    since_s = now_s - lookback_s
    complete = [
        w
        for w in rows
        if w.window_start_s >= since_s and w.window_start_s + w.window_s + settle_s <= now_s
    ]
    del rows
    ranked = sorted(
        (
            GroupMetrics(
                source=g.source,
                dest=g.dest,
                sent=g.stats.sent,
                received=g.stats.received,
                duplicates=g.stats.duplicates,
            )
            for g in counts
        ),
        key=_rank,
    )
    kept, rest = ranked[:max_series], ranked[max_series:]
    snapshot = MetricsSnapshot(
        grouping=grouping,
        max_series=max_series,
        groups=kept,
        other_groups=len(rest),
        other_sent=sum(g.sent for g in rest),
        other_received=sum(g.received for g in rest),
        other_duplicates=sum(g.duplicates for g in rest),
    )
    _newest_windows(snapshot, complete, places)
    return snapshot


def _newest_windows(
    snapshot: MetricsSnapshot, complete: list[WindowAggregate], places: group.PlaceIndex | None
) -> None:
    """Each kept group's figures from the newest of the ``complete`` windows it has rows in."""
    wanted: dict[_GroupKey, GroupMetrics] = {(g.source, g.dest): g for g in snapshot.groups}
    complete.sort(key=lambda w: (w.window_start_s, w.window_s), reverse=True)
    for (start_s, window_s), rows in groupby(
        complete, key=lambda w: (w.window_start_s, w.window_s)
    ):
        for g in group.group_windows(rows, snapshot.grouping, places):
            found = wanted.pop((g.source, g.dest), None)
            if found is not None:
                found.window_start_s, found.window_s, found.window = start_s, window_s, g.stats
        if not wanted:
            return


def _families(s: MetricsSnapshot) -> Iterator[Metric]:
    # prometheus-client is imported when a scrape comes, not with the API (cold starts).
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

    labels = ["source", "dest"]
    what = f"grouped by {s.grouping.source} x {s.grouping.dest}"
    sent = CounterMetricFamily(
        "cloudperf_probes_sent", f"Probes sent, all stored windows, {what}", labels=labels
    )
    received = CounterMetricFamily(
        "cloudperf_probes_received", f"Replies received, all stored windows, {what}",
        labels=labels,
    )  # fmt: skip
    dups = CounterMetricFamily(
        "cloudperf_probes_duplicates", f"Duplicate replies, all stored windows, {what}",
        labels=labels,
    )  # fmt: skip
    quantiles = GaugeMetricFamily(
        "cloudperf_rtt_quantile_seconds",
        "RTT quantile of the newest complete window (merged sketch, within 1 %)",
        labels=[*labels, "quantile"],
        unit="seconds",
    )
    extremes = GaugeMetricFamily(
        "cloudperf_rtt_seconds",
        "RTT min, mean and max of the newest complete window (exact)",
        labels=[*labels, "stat"],
        unit="seconds",
    )
    loss = GaugeMetricFamily(
        "cloudperf_window_loss_ratio", "Loss of the newest complete window", labels=labels
    )
    start = GaugeMetricFamily(
        "cloudperf_window_start_seconds",
        "Start (Unix time) of the newest complete window the RTT figures are from",
        labels=labels,
        unit="seconds",
    )
    length = GaugeMetricFamily(
        "cloudperf_window_length_seconds",
        "Length of that window",
        labels=labels,
        unit="seconds",
    )
    for g in s.groups:
        values = [g.source or "", g.dest or ""]
        sent.add_metric(values, g.sent)
        received.add_metric(values, g.received)
        dups.add_metric(values, g.duplicates)
        w = g.window
        if w is None or g.window_start_s is None or g.window_s is None:
            continue
        start.add_metric(values, g.window_start_s)
        length.add_metric(values, g.window_s)
        if w.loss_ratio is not None:
            loss.add_metric(values, w.loss_ratio)
        for label, name in QUANTILES:
            value = getattr(w, name)
            if value is not None:
                quantiles.add_metric([*values, label], value / 1e6)
        for label, name in _STATS:
            value = getattr(w, name)
            if value is not None:
                extremes.add_metric([*values, label], value / 1e6)
    yield from (sent, received, dups, quantiles, extremes, loss, start, length)
    for name, value, text in (
        ("cloudperf_other_groups", s.other_groups, "Groups past the series cap, summed"),
        ("cloudperf_series_cap", s.max_series, "The cap on (source, dest) groups"),
    ):
        yield GaugeMetricFamily(name, text, value=value)
    for name, value in (
        ("cloudperf_other_probes_sent", s.other_sent),
        ("cloudperf_other_probes_received", s.other_received),
        ("cloudperf_other_probes_duplicates", s.other_duplicates),
    ):
        yield CounterMetricFamily(name, "Sum over the groups past the series cap", value=value)


def render_openmetrics(snapshot: MetricsSnapshot) -> bytes:
    """The snapshot in the OpenMetrics text format (ends with ``# EOF``), written by
    prometheus-client from a per-request registry."""
    from prometheus_client.openmetrics.exposition import generate_latest
    from prometheus_client.registry import Collector, CollectorRegistry

    class SnapshotCollector(Collector):
        def collect(self) -> Iterator[Metric]:
            return _families(snapshot)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector())
    body: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return body
