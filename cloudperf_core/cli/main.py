"""The ``cloudperf`` command: argument parsing and output only; the work is in ``service``."""

from __future__ import annotations

import argparse
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import anyio

from cloudperf_core.errors import CloudperfError
from cloudperf_core.models import DiscoverySpec, ProbeSpec, StatsQuery

if TYPE_CHECKING:
    from cloudperf_core.bootstrap import Config

T = TypeVar("T")
EXIT_USAGE = 2
DEFAULT_COUNT = 10
DEFAULT_PERIOD_MS = 200
DEFAULT_TIMEOUT_MS = 1000
DEFAULT_INTERVAL_MS = 10


def _config(args: argparse.Namespace) -> Config:
    """Backend URLs and settings: this command's flags, then ``CLOUDPERF_*``, then defaults."""
    from cloudperf_core.bootstrap import Config

    return Config.from_env(store=getattr(args, "store", None))


_DURATION_RE = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration_s(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1h30m`` -> seconds."""
    text = text.strip().lower()
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    return total


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to get help), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudperf", description="Measure network latency and packet loss with fping.")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log what backends do (retries etc.)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    m = sub.add_parser("measure", help="measure targets now, store and print the result")
    m.add_argument("targets", nargs="+", metavar="TARGET", help="IP address or host name")
    m.add_argument("--count", "-c", type=_positive_int, default=DEFAULT_COUNT)
    m.add_argument(
        "--period-ms",
        type=_positive_int,
        default=DEFAULT_PERIOD_MS,
        help="gap between probes to one target (fping -p)",
    )
    m.add_argument(
        "--timeout-ms",
        type=_positive_int,
        default=DEFAULT_TIMEOUT_MS,
        help="how long a reply may take, independent of the period (fping -t)",
    )
    m.add_argument(
        "--interval-ms",
        type=_positive_int,
        default=DEFAULT_INTERVAL_MS,
        help="gap between any two packets sent (fping -i)",
    )
    m.add_argument("--size", type=int, default=56, dest="size_bytes", help="ICMP payload bytes")
    fam = m.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="ip_version", action="store_const", const=4)
    fam.add_argument("-6", dest="ip_version", action="store_const", const=6)
    m.add_argument("--source-address", help="send from this local address (fping -S)")
    m.add_argument("--source", default=None, help="name of this vantage point (default: host name)")
    m.add_argument(
        "--store",
        default=None,
        help="store URL (default: $CLOUDPERF_STORE or a SQLite file in the user data directory)",
    )
    m.add_argument("--no-store", action="store_true", help="do not store the result")
    m.add_argument("--window-s", type=_positive_int, default=60, help="aggregation window")
    m.add_argument("--json", action="store_true", help="print a JSON array, one object a target")
    m.add_argument("--report-out", type=Path, help="also save the report (for `cloudperf ingest`)")

    pa = sub.add_parser("parse", help="parse saved fping output (stdout and/or stderr)")
    pa.add_argument("file", nargs="?", default="-", help="file with fping output, - for stdin")
    pa.add_argument("--json", action="store_true")
    pa.add_argument("--strict", action="store_true", help="fail on any line not understood")

    r = sub.add_parser("report", help="print merged stats from the store")
    r.add_argument("--store", default=None)
    r.add_argument(
        "--since",
        type=parse_duration_s,
        default=None,
        metavar="DURATION",
        help="only the last DURATION (e.g. 15m, 2h, 7d)",
    )
    r.add_argument("--source", action="append", dest="sources", metavar="SOURCE")
    r.add_argument("--target", action="append", dest="targets", metavar="TARGET")
    r.add_argument("--group-by", choices=["pair", "target", "source", "overall"], default="target")
    r.add_argument("--json", action="store_true")

    i = sub.add_parser("ingest", help="store a saved report (from measure --report-out)")
    i.add_argument("file", type=Path)
    i.add_argument("--store", default=None)
    i.add_argument("--window-s", type=_positive_int, default=60)

    d = sub.add_parser("discover", help="find answering addresses in a range you own")
    d.add_argument("range", help="START-END or CIDR, e.g. 10.0.0.1-10.0.0.20 or 10.0.0.0/28")
    d.add_argument("--max-hosts", type=_positive_int, default=256)
    d.add_argument("--timeout-ms", type=_positive_int, default=500)
    d.add_argument("--retries", type=int, default=1)
    d.add_argument("--json", action="store_true")

    db = sub.add_parser("db", help="database administration")
    dbsub = db.add_subparsers(
        dest="db_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    mig = dbsub.add_parser("migrate", help="apply schema migrations (idempotent)")
    mig.add_argument("--store", required=True)

    from cloudperf_core.cli.cost import add_cost_parser

    add_cost_parser(sub)
    return p


# --- commands -----------------------------------------------------------------------------


def _runner(config: Config) -> Any:
    from cloudperf_core.fping.runner import FpingRunner, resolve_fping_path

    return FpingRunner(fping_path=resolve_fping_path(config.fping_path))


class _Progress:
    """A one-line progress display on a terminal: elapsed vs expected time, targets done."""

    def __init__(self, out: TextIO, spec: ProbeSpec) -> None:
        self._out = out
        self._total = len(spec.targets)
        self._done = 0
        # One batch lasts about count periods plus the last probe's timeout.
        self._expected_s = (spec.count * spec.period_ms + spec.timeout_ms) / 1000
        self._started = time.monotonic()

    def batch_done(self, done: int, total: int) -> None:
        self._done, self._total = done, total

    async def run(self) -> None:
        while True:
            await anyio.sleep(0.2)  # first, so a cancelled display never writes after clear()
            elapsed = time.monotonic() - self._started
            self._out.write(
                f"\rmeasuring {self._total} target(s): {elapsed:4.1f} s of ~"
                f"{self._expected_s:.1f} s, {self._done}/{self._total} done "
            )
            self._out.flush()

    def clear(self) -> None:
        self._out.write("\r\033[K")
        self._out.flush()


async def _with_progress(progress: _Progress | None, work: Awaitable[T]) -> T:
    """Await ``work`` while the progress line (if any) ticks beside it."""
    if progress is None:
        return await work
    done: list[T] = []
    failed: list[CloudperfError] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(progress.run)
        try:
            done.append(await work)
        except CloudperfError as exc:
            failed.append(exc)  # re-raised below as itself, not inside an exception group
        finally:
            tg.cancel_scope.cancel()
            progress.clear()
    if failed:
        raise failed[0]
    return done[0]


def _print_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2) + "\n")


async def cmd_measure(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.cli.views import render_table, result_json
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.stats import compute_stats_many

    spec = ProbeSpec(
        targets=tuple(args.targets),
        count=args.count,
        period_ms=args.period_ms,
        timeout_ms=args.timeout_ms,
        interval_ms=args.interval_ms,
        size_bytes=args.size_bytes,
        ip_version=args.ip_version,
        source_address=args.source_address,
    )
    config = _config(args)
    runner = _runner(config)
    progress = _Progress(err, spec) if err.isatty() and not args.json else None
    async with Services(config) as services:
        # Opened before measuring, so a bad store URL fails before any probe is sent.
        store = None if args.no_store else await services.store()
        report = await _with_progress(
            progress,
            service.measure(
                runner,
                spec,
                source=args.source or socket.gethostname(),
                clock=SystemClock(),
                on_progress=progress.batch_done if progress is not None else None,
            ),
        )
        if args.report_out:
            args.report_out.write_bytes(service.encode_report(report))
        if store is not None:
            await service.ingest_reports(store, [report], window_s=args.window_s)
    stats = compute_stats_many(report.results)
    rows = [result_json(r, s) for r, s in zip(report.results, stats, strict=True)]
    if args.json:
        _print_json(rows, out)
    else:
        out.write(render_table(rows) + "\n")
    return 0


def cmd_parse(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.cli.views import render_table, result_json
    from cloudperf_core.fping.parser import parse_fping_output
    from cloudperf_core.stats import compute_stats_many

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise CloudperfError(f"cannot read {args.file}: {exc.strerror}") from exc
    parsed = parse_fping_output(data, strict=args.strict)
    for w in parsed.warnings:
        err.write(f"cloudperf: warning: line {w.line_no}: {w.reason}: {w.line!r}\n")
    for line in parsed.fatal:
        err.write(f"cloudperf: fping reported: {line}\n")
    stats = compute_stats_many(parsed.targets)
    rows = [result_json(r, s) for r, s in zip(parsed.targets, stats, strict=True)]
    if args.json:
        _print_json(rows, out)
    else:
        out.write(render_table(rows) + "\n")
    return 0


async def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.cli.views import group_json, render_table
    from cloudperf_core.clock import SystemClock

    since_s = None
    if args.since is not None:
        since_s = SystemClock().now_ms() // 1000 - args.since
    query = StatsQuery(
        sources=tuple(args.sources) if args.sources else None,
        targets=tuple(args.targets) if args.targets else None,
        since_s=since_s,
    )
    async with Services(_config(args)) as services:
        groups = await service.query_stats(await services.store(), query, args.group_by)
    rows = [group_json(g) for g in groups]
    if args.json:
        _print_json(rows, out)
    elif not rows:
        err.write("no measurements stored for this query\n")
    else:
        if args.group_by == "overall":
            for row in rows:
                row["target"] = "(all)"
        elif args.group_by == "source":
            for row in rows:
                row["target"] = row["source"]
        first = "source" if args.group_by == "pair" else "target"
        out.write(render_table(rows, first_column=first) + "\n")
    return 0


async def cmd_ingest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services

    try:
        body = args.file.read_bytes()
    except OSError as exc:
        raise CloudperfError(f"cannot read {args.file}: {exc.strerror}") from exc
    report = service.decode_report(body)
    async with Services(_config(args)) as services:
        store = await services.store()
        outcome = await service.ingest_reports(store, [report], window_s=args.window_s)
    if outcome.duplicates:
        out.write(f"report {report.report_id} was already ingested; nothing changed\n")
    else:
        out.write(f"ingested report {report.report_id} ({len(report.results)} targets)\n")
    return 0


async def cmd_discover(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    start, _, end = args.range.partition("-")
    spec = DiscoverySpec(
        start=start.strip(),
        end=end.strip() or None,
        max_hosts=args.max_hosts,
        timeout_ms=args.timeout_ms,
        retries=args.retries,
    )
    alive = await _runner(_config(args)).discover(spec)
    if args.json:
        _print_json(alive, out)
    else:
        out.write("".join(f"{a}\n" for a in alive))
    return 0


async def cmd_db(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.backends import redact_url
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.ports import Migratable

    async with Services(_config(args)) as services:
        store = await services.store()
        if not isinstance(store, Migratable):
            out.write(f"{redact_url(args.store)}: schema is managed automatically\n")
            return 0
        applied = await store.migrate()
        version = await store.schema_version()
    if applied:
        out.write(f"applied migrations {', '.join(map(str, applied))}; schema version {version}\n")
    else:
        out.write(f"schema is up to date (version {version})\n")
    return 0


def _configure_logging(verbose: bool) -> None:
    # The core's warnings (e.g. fping lines that did not parse) always show; the backends'
    # retry chatter only with -v, since the final error is reported anyway.
    logging.basicConfig(
        format="cloudperf: %(levelname)s: %(message)s",
        level=logging.INFO if verbose else logging.ERROR,
        stream=sys.stderr,
    )
    logging.getLogger("cloudperf_core").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    _configure_logging(args.verbose)
    try:
        if args.command == "parse":
            return cmd_parse(args, out, err)
        if args.command == "cost":
            from cloudperf_core.cli.cost import cmd_cost

            return cmd_cost(args, out)
        handler = {
            "measure": cmd_measure,
            "report": cmd_report,
            "ingest": cmd_ingest,
            "discover": cmd_discover,
            "db": cmd_db,
        }[args.command]
        return anyio.run(handler, args, out, err)
    except CloudperfError as exc:
        err.write(f"cloudperf: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("cloudperf: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
