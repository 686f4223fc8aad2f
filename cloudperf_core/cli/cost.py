"""``cloudperf cost``: the monthly AWS bill of the serverless deployment, by scale.

A model, not a measurement: usage follows from probes x targets x measurement interval through
the formulas below, priced with on-demand us-east-1 list prices (``UnitPrices``, dated
``PRICES_DATE``; other regions cost up to ~30 % more). Free tiers are ignored. The
assumptions that are not arithmetic (durations, rows per ACU, ECPUs per job) are named fields
of ``Assumptions`` and printed with every estimate.

>>> estimate(Scale(probes=10, targets=1000, interval_s=60)).total_usd   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TextIO

HOURS_PER_MONTH = 730  # AWS's billing month
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
PRICES_DATE = "2026-06"
PRICES_REGION = "us-east-1"
SQS_CHUNK_BYTES = 64 * 1024  # SQS bills each 64 KiB of a message as one request
SQS_MAX_MESSAGE_BYTES = 256 * 1024
SQS_IDLE_RECEIVES_PER_MONTH = 5 * 3 * 60 * HOURS_PER_MONTH  # 5 long-polling pollers, 20 s each
AURORA_IO_BYTES = 4096
# Window retention (adapters/aurora/retention.py): 60 s windows for 2 days, then 1 h windows
# until day 30, then 1 d windows until day 400.
RETENTION_TIERS = ((60, 2), (3600, 28), (86400, 370))

FrontDoor = Literal["http-api", "alb"]
Arch = Literal["arm64", "x86_64"]
CacheEngine = Literal["valkey", "redis"]


@dataclass(frozen=True)
class UnitPrices:
    """On-demand list prices, us-east-1, USD (PRICES_DATE)."""

    lambda_gb_s_arm64: float = 0.0000133334
    lambda_gb_s_x86_64: float = 0.0000166667
    lambda_per_million_requests: float = 0.20
    sqs_per_million_requests: float = 0.40
    aurora_acu_hour: float = 0.12
    aurora_storage_gb_month: float = 0.10
    aurora_per_million_io: float = 0.20
    valkey_gb_hour: float = 0.084
    valkey_min_gb: float = 0.1
    valkey_per_million_ecpu: float = 0.0023
    redis_gb_hour: float = 0.125
    redis_min_gb: float = 1.0
    redis_per_million_ecpu: float = 0.0034
    nat_hour: float = 0.045
    nat_gb: float = 0.045
    alb_hour: float = 0.0225
    alb_lcu_hour: float = 0.008
    http_api_per_million: float = 1.00
    public_ipv4_hour: float = 0.005
    secret_month: float = 0.40
    kms_key_month: float = 1.00
    alarm_month: float = 0.10
    logs_ingest_gb: float = 0.50
    t4g_micro_hour: float = 0.0084
    gp3_gb_month: float = 0.08


@dataclass(frozen=True)
class Assumptions:
    """What the estimate assumes beyond arithmetic; each can be changed on the command line."""

    count: int = 10  # probes sent per target per measurement (fping -C)
    targets_per_job: int = 500
    api_ms: float = 50.0  # mean API invocation (lease a job, or accept a report)
    api_memory_mb: int = 1024
    worker_base_ms: float = 30.0  # per worker invocation, plus per target row below
    worker_us_per_target: float = 50.0  # 2x the local MariaDB ingest benchmark per row
    worker_memory_mb: int = 1024
    worker_max_concurrency: int = 5
    batch_size: int = 10
    batching_window_s: float = 5.0
    scheduler_ms: float = 500.0
    scheduler_memory_mb: int = 512
    schedule_rate_minutes: int = 1
    rows_per_acu_s: float = 1000.0  # target rows ingested per second per ACU
    db_min_acu: float = 0.5
    db_max_acu: float = 4.0
    db_reader: bool = True
    row_bytes: int = 300  # one stored window row (counts + sketch + index share)
    cache_engine: CacheEngine = "valkey"
    cache_data_gb: float = 0.1
    ecpu_per_job: int = 10  # issue, lease, extend, ack
    ecpu_per_api_request: int = 3  # token lookup, rate counter, liveness
    nat_gateways: int = 1
    front_door: FrontDoor = "http-api"
    arch: Arch = "arm64"
    log_bytes_per_invocation: int = 1000
    alarms: int = 5

    @property
    def report_bytes_per_target(self) -> int:
        # JSON: label and counts (~40 bytes) plus one integer RTT in us per probe (~8 bytes).
        return 40 + 8 * self.count


@dataclass(frozen=True)
class Scale:
    probes: int
    targets: int
    interval_s: float  # every probe measures every target once per interval


@dataclass(frozen=True)
class Line:
    service: str
    usage: str
    usd: float


@dataclass(frozen=True)
class Estimate:
    scale: Scale
    assumptions: Assumptions
    usage: dict[str, float]
    lines: list[Line] = field(default_factory=list)
    probe_instances_usd: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)


def _gb_s(invocations: float, ms: float, memory_mb: int) -> float:
    return invocations * ms / 1000 * memory_mb / 1024


def estimate(scale: Scale, a: Assumptions | None = None, p: UnitPrices | None = None) -> Estimate:
    """Monthly usage and cost for ``scale`` (see the README's cost section for the formulas)."""
    a, p = a or Assumptions(), p or UnitPrices()
    rounds = SECONDS_PER_MONTH / scale.interval_s
    jobs_per_round = math.ceil(scale.targets / a.targets_per_job)
    targets_per_job = math.ceil(scale.targets / jobs_per_round)
    jobs = scale.probes * jobs_per_round * rounds  # one report per job
    target_rows = scale.probes * scale.targets * rounds
    report_bytes = targets_per_job * a.report_bytes_per_target
    messages = jobs * math.ceil(report_bytes / SQS_MAX_MESSAGE_BYTES)
    # Each round: one poll per job, one report per job, one empty poll that ends the round.
    api_requests = scale.probes * rounds * (2 * jobs_per_round + 1)

    # The SQS trigger invokes when a batch is full or the batching window ends.
    rate = messages / SECONDS_PER_MONTH
    per_s = max(rate / a.batch_size, min(rate, 1 / a.batching_window_s)) if rate else 0.0
    worker_invocations = per_s * SECONDS_PER_MONTH
    worker_gb_s = _gb_s(worker_invocations, a.worker_base_ms, a.worker_memory_mb) + (
        target_rows * a.worker_us_per_target / 1e6 * a.worker_memory_mb / 1024
    )
    api_gb_s = _gb_s(api_requests, a.api_ms, a.api_memory_mb)
    ticks = SECONDS_PER_MONTH / (60 * a.schedule_rate_minutes)
    scheduler_gb_s = _gb_s(ticks, a.scheduler_ms, a.scheduler_memory_mb)
    invocations = api_requests + worker_invocations + ticks
    gb_s = api_gb_s + worker_gb_s + scheduler_gb_s
    gb_s_price = p.lambda_gb_s_arm64 if a.arch == "arm64" else p.lambda_gb_s_x86_64

    sqs_requests = (
        jobs * math.ceil(report_bytes / SQS_CHUNK_BYTES)  # send
        + 2 * worker_invocations  # receive + delete batch
        + SQS_IDLE_RECEIVES_PER_MONTH
    )

    # The scheduler ticks every minute, so a 0-ACU minimum never gets to pause: 0.5 ACU.
    floor_acu = a.db_min_acu if a.db_min_acu > 0 else 0.5
    writer_acu = max(floor_acu, scale.probes * scale.targets / scale.interval_s / a.rows_per_acu_s)
    instances = 2 if a.db_reader else 1  # the reader scales with the writer
    acu_hours = writer_acu * instances * HOURS_PER_MONTH
    stored_rows = sum(
        scale.probes * scale.targets * days * min(86400 / window_s, 86400 / scale.interval_s)
        for window_s, days in RETENTION_TIERS
    )
    storage_gb = stored_rows * a.row_bytes / 1e9
    write_ios = target_rows * a.row_bytes / AURORA_IO_BYTES

    if a.cache_engine == "valkey":
        cache_gb = max(a.cache_data_gb, p.valkey_min_gb)
        gb_hour, ecpu_price = p.valkey_gb_hour, p.valkey_per_million_ecpu
    else:
        cache_gb = max(a.cache_data_gb, p.redis_min_gb)
        gb_hour, ecpu_price = p.redis_gb_hour, p.redis_per_million_ecpu
    ecpus = jobs * a.ecpu_per_job + api_requests * a.ecpu_per_api_request

    nat_gb = 2 * jobs * report_bytes / 1e9  # API -> SQS and SQS -> worker
    log_gb = invocations * a.log_bytes_per_invocation / 1e9

    lines = [
        Line(
            "Lambda",
            f"{_n(invocations)} invocations, {_n(gb_s)} GB-s ({a.arch})",
            invocations / 1e6 * p.lambda_per_million_requests + gb_s * gb_s_price,
        ),
        Line(
            "SQS", f"{_n(sqs_requests)} requests", sqs_requests / 1e6 * p.sqs_per_million_requests
        ),
        Line(
            "Aurora Serverless v2",
            f"{_n(acu_hours)} ACU-h ({instances} x {writer_acu:.2f} ACU), "
            f"{storage_gb:.2f} GB, {_n(write_ios)} write I/O",
            acu_hours * p.aurora_acu_hour
            + storage_gb * p.aurora_storage_gb_month
            + write_ios / 1e6 * p.aurora_per_million_io,
        ),
        Line(
            f"ElastiCache Serverless ({a.cache_engine})",
            f"{cache_gb:g} GB x {HOURS_PER_MONTH} h, {_n(ecpus)} ECPU",
            cache_gb * HOURS_PER_MONTH * gb_hour + ecpus / 1e6 * ecpu_price,
        ),
    ]
    if a.nat_gateways:
        lines.append(
            Line(
                "NAT gateway",
                f"{a.nat_gateways} x {HOURS_PER_MONTH} h + public IPv4, {nat_gb:.2f} GB",
                a.nat_gateways * HOURS_PER_MONTH * (p.nat_hour + p.public_ipv4_hour)
                + nat_gb * p.nat_gb,
            )
        )
    lines.append(_front_door_line(scale, a, p, api_requests, report_bytes))
    lines.append(
        Line(
            "Other",
            f"secret, KMS key, {a.alarms} alarms, {log_gb:.2f} GB logs",
            p.secret_month + p.kms_key_month + a.alarms * p.alarm_month + log_gb * p.logs_ingest_gb,
        )
    )
    usage = {
        "measurements": target_rows,
        "jobs": jobs,
        "api_requests": api_requests,
        "lambda_invocations": invocations,
        "lambda_gb_s": gb_s,
        "worker_invocations": worker_invocations,
        "sqs_requests": sqs_requests,
        "aurora_acu_hours": acu_hours,
        "aurora_storage_gb": storage_gb,
        "aurora_write_ios": write_ios,
        "cache_gb": cache_gb,
        "cache_ecpus": ecpus,
        "nat_gb": nat_gb,
    }
    probe_usd = scale.probes * (
        HOURS_PER_MONTH * (p.t4g_micro_hour + p.public_ipv4_hour) + 8 * p.gp3_gb_month
    )
    notes = []
    if writer_acu > a.db_max_acu:
        notes.append(
            f"the load needs ~{math.ceil(writer_acu)} ACU, above dbMaxAcu={a.db_max_acu:g}: "
            f"raise it (context dbMaxAcu) or ingest falls behind"
        )
    busy_workers = worker_gb_s / (a.worker_memory_mb / 1024) / SECONDS_PER_MONTH
    if busy_workers > a.worker_max_concurrency:
        notes.append(
            f"ingest keeps ~{busy_workers:.1f} workers busy, above workerMaxConcurrency="
            f"{a.worker_max_concurrency}: raise it (and dbMaxAcu) or reports queue up"
        )
    return Estimate(scale, a, usage, lines, probe_usd, notes)


def _front_door_line(
    scale: Scale, a: Assumptions, p: UnitPrices, api_requests: float, report_bytes: int
) -> Line:
    if a.front_door == "http-api":
        return Line(
            "API Gateway HTTP API",
            f"{_n(api_requests)} requests",
            api_requests / 1e6 * p.http_api_per_million,
        )
    # LCU: the largest of new connections (25/s), active connections (3,000/min), bytes
    # (0.4 GB/h for Lambda targets) and rule evaluations (1,000/s). Probes keep one
    # connection open and reconnect about once a minute.
    hourly_gb = api_requests / HOURS_PER_MONTH * (report_bytes / 2 + 1000) / 1e9
    lcu = max(
        scale.probes / 60 / 25,
        scale.probes / 3000,
        hourly_gb / 0.4,
        api_requests / SECONDS_PER_MONTH / 1000,
    )
    return Line(
        "Application Load Balancer",
        f"{HOURS_PER_MONTH} h, {lcu:.3f} LCU, 2 public IPv4",
        HOURS_PER_MONTH * (p.alb_hour + lcu * p.alb_lcu_hour + 2 * p.public_ipv4_hour),
    )


def _n(value: float) -> str:
    """1234 -> '1,234', 2.5e6 -> '2.50 M', 3.1e9 -> '3.10 G'."""
    if value >= 1e9:
        return f"{value / 1e9:.2f} G"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.0f}"


def render(est: Estimate) -> str:
    s, a = est.scale, est.assumptions
    head = (
        f"cloudperf monthly estimate: {s.probes:,} probe(s) x {s.targets:,} target(s), each "
        f"measured every {s.interval_s:g} s ({a.count} probes a measurement); "
        f"{PRICES_REGION} on-demand prices of {PRICES_DATE}, free tiers ignored"
    )
    width = max(len(line.usage) for line in est.lines)
    rows = [f"{'service':<34} {'usage':<{width}} {'USD/month':>10}"]
    rows += [f"{ln.service:<34} {ln.usage:<{width}} {ln.usd:>10,.2f}" for ln in est.lines]
    rows.append(f"{'total (main stack)':<34} {'':<{width}} {est.total_usd:>10,.2f}")
    rows.append(
        f"{'probe stacks (t4g.micro, if used)':<34} {f'{s.probes} instance(s)':<{width}} "
        f"{est.probe_instances_usd:>10,.2f}"
    )
    assumed = ", ".join(
        f"{k}={v}" for k, v in asdict(a).items() if k not in ("count", "front_door", "arch")
    )
    notes = [f"note: {n}" for n in est.notes]
    wrapped = textwrap.fill(f"assumptions: {assumed}", width=100, subsequent_indent="  ")
    return "\n".join([textwrap.fill(head, width=100), *rows, *notes, wrapped])


def _number(kind: type[int] | type[float], *, zero_ok: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0 or (value == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(f"must be {'>=' if zero_ok else '>'} 0: {text}")
        return value

    return parse


def add_cost_parser(sub: argparse._SubParsersAction[Any]) -> None:
    c = sub.add_parser("cost", help="estimate the monthly AWS cost of a deployment by scale")
    c.add_argument("--probes", type=_number(int), required=True, help="vantage points")
    c.add_argument("--targets", type=_number(int), required=True, help="targets per probe")
    c.add_argument(
        "--interval-s", type=_number(float), required=True, help="each target measured every"
    )
    c.add_argument("--count", type=_number(int), default=Assumptions.count)
    c.add_argument("--targets-per-job", type=_number(int), default=Assumptions.targets_per_job)
    c.add_argument("--front-door", choices=["http-api", "alb"], default="http-api")
    c.add_argument("--arch", choices=["arm64", "x86_64"], default="arm64")
    c.add_argument("--cache-engine", choices=["valkey", "redis"], default="valkey")
    c.add_argument(
        "--nat-gateways", type=_number(int, zero_ok=True), default=Assumptions.nat_gateways
    )
    c.add_argument(
        "--db-min-acu", type=_number(float, zero_ok=True), default=Assumptions.db_min_acu
    )
    c.add_argument(
        "--db-max-acu", type=_number(float), default=Assumptions.db_max_acu, help="dbMaxAcu"
    )
    c.add_argument("--no-db-reader", action="store_true", help="writer only (dbReader=false)")
    c.add_argument("--json", action="store_true")


def cmd_cost(args: argparse.Namespace, out: TextIO) -> int:
    assumptions = replace(
        Assumptions(),
        count=args.count,
        targets_per_job=args.targets_per_job,
        front_door=args.front_door,
        arch=args.arch,
        cache_engine=args.cache_engine,
        nat_gateways=args.nat_gateways,
        db_min_acu=args.db_min_acu,
        db_max_acu=args.db_max_acu,
        db_reader=not args.no_db_reader,
    )
    est = estimate(Scale(args.probes, args.targets, args.interval_s), assumptions)
    if args.json:
        body = {
            "scale": asdict(est.scale),
            "assumptions": asdict(assumptions),
            "prices": {"region": PRICES_REGION, "date": PRICES_DATE, **asdict(UnitPrices())},
            "usage": est.usage,
            "lines": [asdict(line) for line in est.lines],
            "total_usd": est.total_usd,
            "notes": est.notes,
            "probe_instances_usd": est.probe_instances_usd,
        }
        out.write(json.dumps(body, indent=2) + "\n")
    else:
        out.write(render(est) + "\n")
    return 0
