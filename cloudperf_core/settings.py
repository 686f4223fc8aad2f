"""Settings of the service (API, auth, probe protocol), with their defaults and ranges.

They come from :mod:`cloudperf_core.bootstrap` (``CLOUDPERF_<FIELD>`` variables or flags);
every field is range-checked on the way in, so a bad value is a one-line error at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from cloudperf_core import limits
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.models import DestDim, SourceDim

_Seconds = Annotated[int, msgspec.Meta(ge=1, le=30 * 86_400)]
_Jobs = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
# The runner refuses discovery ranges wider than this (fping.argv.DEFAULT_MAX_RANGE_SIZE).
MAX_DISCOVERY_CHUNK = 4096


class ServiceSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Knobs of the HTTP API and the probe protocol (environment: ``CLOUDPERF_<NAME>``)."""

    # Users: session lifetime, argon2id cost (argon2-cffi's RFC 9106 low-memory profile).
    session_ttl_s: _Seconds = 12 * 3600
    argon2_time_cost: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    argon2_memory_kib: Annotated[int, msgspec.Meta(ge=64, le=4 * 1024 * 1024)] = 64 * 1024
    argon2_parallelism: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4
    # Login rate limits: failures per user and per client address within the window.
    login_window_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 300
    login_failures_per_user: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    login_failures_per_address: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    # Who sits in front: "alb" trusts the last X-Forwarded-For hop as the client address.
    trusted_proxy: Literal["none", "alb"] = "none"
    # Probe protocol. A lease must outlast its job's run (count x period + timeout + margin);
    # the ledger remembers every lease handed out (and every report id accepted) for
    # lease_ledger_ttl_s, so a report the agent's spool delivers late is still checked.
    lease_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 120
    lease_ledger_ttl_s: _Seconds = 86_400
    clock_skew_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 300
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1_000_000)] = 900_000
    max_jobs_per_poll: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50
    # A probe counts as online (a live source for the scheduler, "online" on status pages)
    # when it was seen within this long.
    probe_online_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 90
    # A range is swept again (and is "fresh" on status pages until) this long after its last
    # sweep.
    discovery_interval_s: Annotated[int, msgspec.Meta(ge=60, le=365 * 86_400)] = 86_400
    # What a poll that found no job (or found the system paused) tells the probe to wait.
    poll_idle_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5
    # One message on the reports queue at most (SQS: 256 KiB with attributes); the API splits
    # a latency report by targets to fit.
    max_queued_report_bytes: Annotated[int, msgspec.Meta(ge=4096, le=1_000_000)] = 240_000

    # Scheduler (cloudperf_core.scheduler). One tick per slot of tick_s; a second tick in the
    # same slot issues nothing. Every job must run within half of lease_s (checked when the
    # settings are read from the environment).
    tick_s: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 60
    # A source location whose queue holds this many jobs (ready or leased) gets no new ones.
    backpressure_depth: _Jobs = 20
    # Latency jobs: N reachable addresses of one destination location, C probes each.
    latency_targets: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 50
    latency_count: Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_COUNT)] = 10
    latency_period_ms: Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_PERIOD_MS)] = 1000
    latency_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=limits.MAX_TIMEOUT_MS)] = 1000
    # How long the list of destinations (catalog.reachable_locations) is cached.
    destinations_refresh_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 300
    # Discovery (a range is swept again discovery_interval_s after its last sweep): chunks of
    # discovery_chunk_hosts addresses, at most discovery_chunks_per_range chunks per range and
    # round (wider IPv4 ranges are covered over successive rounds), at most
    # discovery_ranges_per_tick ranges per tick.
    discovery_chunk_hosts: Annotated[int, msgspec.Meta(ge=1, le=MAX_DISCOVERY_CHUNK)] = 256
    discovery_chunks_per_range: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 16
    discovery_ranges_per_tick: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    # Retention roll-ups (stores that have them) run at most this often.
    retention_every_s: Annotated[int, msgspec.Meta(ge=60, le=30 * 86_400)] = 3600

    # GET /metrics (cloudperf_core.service.metrics): one series per (source, destination)
    # group of these dimensions, at most metrics_max_series of them (the rest is summed into
    # the cloudperf_other_* families); quantiles from the newest window that ended at least
    # metrics_settle_s ago (late reports), looked for within metrics_lookback_s. A scraper
    # authenticates with metrics_token (32+ printable characters; empty = viewer sessions only).
    metrics_source_by: SourceDim = "probe"
    metrics_dest_by: DestDim = "location"
    metrics_max_series: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    metrics_settle_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 120
    metrics_lookback_s: Annotated[int, msgspec.Meta(ge=60, le=7 * 86_400)] = 900
    metrics_token: Annotated[str, msgspec.Meta(pattern=r"^(|[!-~]{32,512})$")] = ""


SETTING_ENV_PREFIX = "CLOUDPERF_"


def settings_from_env(env: Mapping[str, str], **overrides: object) -> ServiceSettings:
    """``ServiceSettings`` from ``CLOUDPERF_<FIELD>`` variables and explicit overrides."""
    values: dict[str, object] = {}
    for name in ServiceSettings.__struct_fields__:
        raw = env.get(SETTING_ENV_PREFIX + name.upper())
        if raw:
            values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(values, ServiceSettings, strict=False)
    except msgspec.ValidationError as exc:
        raise BackendConfigError(f"bad setting: {exc}") from exc
    from cloudperf_core.scheduler import check_sizing

    check_sizing(settings)  # a deployment whose jobs outlive their lease fails at start-up
    return settings
