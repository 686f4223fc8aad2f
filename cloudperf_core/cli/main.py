"""The ``cloudperf`` command: argument parsing, dispatch, and how errors and signals end it.

Whatever the input, a user sees results or one line on stderr, never a traceback: our own
errors are one line each (exit 1), usage errors one line (exit 2), SIGINT / SIGTERM stop fping
and exit 130 / 143 with one line. Every number an option takes is checked against the same
bounds the model declares (``cloudperf_core.limits``) before anything runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import anyio
from anyio.abc import TaskStatus

from cloudperf_core import limits
from cloudperf_core.cli.views import safe_text
from cloudperf_core.errors import CloudperfError
from cloudperf_core.models import DiscoverySpec, ProbeSpec

if TYPE_CHECKING:
    from cloudperf_core.bootstrap import Config

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, reported in one line
# Interactive default: 10 probes in about 2 s. ProbeSpec's 1000 ms suits scheduled jobs that
# probe the same targets all day; every other default is the model's own.
DEFAULT_COUNT = 10
DEFAULT_PERIOD_MS = 200
_PROBE_DEFAULTS = ProbeSpec(targets=())
_DISCOVERY_DEFAULTS = DiscoverySpec(start="")

Handler = Callable[[argparse.Namespace, TextIO, TextIO], Awaitable[int]]


def config_of(args: argparse.Namespace) -> Config:
    """Backend URLs and settings: this command's flags, then ``CLOUDPERF_*``, then defaults."""
    from cloudperf_core.bootstrap import Config

    return Config.from_env(store=getattr(args, "store", None))


# --- option types --------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(\d{1,12})([smhdw])")
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration_s(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1h30m`` -> seconds (at most 100 years)."""
    text = text.strip().lower()
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    if total > limits.MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"{text!r} is more than 100 years")
    return total


def int_in(low: int, high: int | None) -> Callable[[str], int]:
    """An argparse type: a whole number within ``low..high``."""

    def convert(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if not digits.isdigit() or not digits.isascii() or len(digits) > 30:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        value = int(text)
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f"..{high}"
            raise argparse.ArgumentTypeError(f"must be in {low}{upper}, got {value}")
        return value

    return convert


def spec_int(struct: type[ProbeSpec] | type[DiscoverySpec], field: str) -> Callable[[str], int]:
    """An argparse type bounded exactly like the model's ``field`` (one definition)."""
    low, high = limits.field_bounds(struct, field)
    return int_in(0 if low is None else low, high)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to get help), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {safe_text(message)} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudperf", description="Measure network latency and packet loss with fping.")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log what backends do (retries etc.)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    probe = _PROBE_DEFAULTS

    m = sub.add_parser("measure", help="measure targets now, store and print the result")
    m.add_argument("targets", nargs="+", metavar="TARGET", help="IP address or host name")
    m.add_argument(
        "--count", "-c", type=spec_int(ProbeSpec, "count"), default=DEFAULT_COUNT, help="(10)"
    )
    m.add_argument(
        "--period-ms",
        type=spec_int(ProbeSpec, "period_ms"),
        default=DEFAULT_PERIOD_MS,
        help="gap between probes to one target (fping -p; 200 here, 1000 in jobs)",
    )
    m.add_argument(
        "--timeout-ms",
        type=spec_int(ProbeSpec, "timeout_ms"),
        default=probe.timeout_ms,
        help=f"how long a reply may take, independent of the period (fping -t; {probe.timeout_ms})",
    )
    m.add_argument(
        "--interval-ms",
        type=spec_int(ProbeSpec, "interval_ms"),
        default=probe.interval_ms,
        help=f"gap between any two packets sent (fping -i; {probe.interval_ms})",
    )
    m.add_argument(
        "--size",
        type=spec_int(ProbeSpec, "size_bytes"),
        default=probe.size_bytes,
        dest="size_bytes",
        help=f"ICMP payload bytes ({probe.size_bytes})",
    )
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
    m.add_argument("--window-s", type=int_in(1, limits.MAX_WINDOW_S), default=60)
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
    i.add_argument("--window-s", type=int_in(1, limits.MAX_WINDOW_S), default=60)

    disc = _DISCOVERY_DEFAULTS
    d = sub.add_parser("discover", help="find answering addresses in a range you own")
    d.add_argument("range", help="START-END or CIDR, e.g. 10.0.0.1-10.0.0.20 or 10.0.0.0/28")
    d.add_argument("--max-hosts", type=spec_int(DiscoverySpec, "max_hosts"), default=disc.max_hosts)
    d.add_argument(
        "--timeout-ms", type=spec_int(DiscoverySpec, "timeout_ms"), default=disc.timeout_ms
    )
    d.add_argument("--retries", type=spec_int(DiscoverySpec, "retries"), default=disc.retries)
    d.add_argument("--json", action="store_true")

    db = sub.add_parser("db", help="database administration")
    dbsub = db.add_subparsers(
        dest="db_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    mig = dbsub.add_parser("migrate", help="apply schema migrations (idempotent)")
    mig.add_argument("--store", required=True)

    from cloudperf_core.cli.admin import add_admin_parser, add_export_parser
    from cloudperf_core.cli.cost import add_cost_parser
    from cloudperf_core.cli.probe import add_probe_parser
    from cloudperf_core.cli.serve import add_serve_parser

    add_cost_parser(sub)
    add_probe_parser(sub)
    add_serve_parser(sub)
    add_admin_parser(sub)
    add_export_parser(sub)
    return p


# --- running a command ---------------------------------------------------------------------


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the command was cancelled (its fping killed)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


async def _interruptible(
    handler: Handler, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """Run ``handler``; SIGINT/SIGTERM cancel it (the executor kills fping on the way out)."""
    received: list[int] = []
    result: list[int] = []
    failed: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def watch(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                task_status.started()
                async for signum in signals:
                    received.append(signum)
                    group.cancel_scope.cancel()
                    return

        async def work() -> None:
            try:
                result.append(await handler(args, out, err))
            except Exception as exc:  # re-raised below as itself, not inside an exception group
                failed.append(exc)
            group.cancel_scope.cancel()

        await group.start(watch)  # the handlers are in place before any work starts
        group.start_soon(work)
    if received:
        raise Interrupted(received[0])
    if failed:
        raise failed[0]
    return result[0]


class _SafeFormatter(logging.Formatter):
    """Log lines as ``cloudperf: LEVEL: message``, control characters escaped, one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and logging.getLogger("cloudperf_core").isEnabledFor(logging.DEBUG):
            message += " | " + self.formatException(record.exc_info)
        return f"cloudperf: {record.levelname}: {safe_text(message)}"


def _configure_logging(verbose: bool, err: TextIO) -> None:
    # The core's warnings (e.g. fping lines that did not parse) always show; the backends'
    # retry chatter only with -v, since the final error is reported anyway.
    handler = logging.StreamHandler(err)
    handler.setFormatter(_SafeFormatter())
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR, handlers=[handler], force=True
    )
    logging.getLogger("cloudperf_core").setLevel(logging.INFO if verbose else logging.WARNING)


def _handler(command: str) -> Handler:
    from cloudperf_core.cli import admin, commands, measure

    handlers: dict[str, Handler] = {
        "admin": admin.cmd_admin,
        "export": admin.cmd_export,
        "measure": measure.cmd_measure,
        "report": commands.cmd_report,
        "ingest": commands.cmd_ingest,
        "discover": commands.cmd_discover,
        "db": commands.cmd_db,
    }
    return handlers[command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    _configure_logging(args.verbose, err)
    try:
        if args.command == "parse":
            from cloudperf_core.cli.commands import cmd_parse

            return cmd_parse(args, out, err)
        if args.command == "cost":
            from cloudperf_core.cli.cost import cmd_cost

            return cmd_cost(args, out)
        if args.command == "probe":
            # The agent handles SIGTERM itself: for a daemon it is the normal way to stop.
            from cloudperf_core.cli.probe import cmd_probe

            return anyio.run(cmd_probe, args, out, err)
        if args.command == "serve":
            # Like the agent, the server handles SIGTERM/SIGINT itself: a clean stop, exit 0.
            from cloudperf_core.cli.serve import cmd_serve

            return anyio.run(cmd_serve, args, out, err)
        return anyio.run(_interruptible, _handler(args.command), args, out, err)
    except CloudperfError as exc:
        err.write(f"cloudperf: error: {safe_text(str(exc))}\n")
        return 1
    except Interrupted as exc:
        what = getattr(args, "interrupt_note", "")
        err.write(f"cloudperf: interrupted by {exc}{what}\n")
        return 128 + exc.signum
    except KeyboardInterrupt:
        err.write("cloudperf: interrupted\n")
        return 128 + signal.SIGINT
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like other command-line tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:  # writing the output failed (disk full, closed stdout, ...)
        err.write(f"cloudperf: error: {safe_text(str(exc))}\n")
        return 1
    except Exception as exc:
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        err.write(
            f"cloudperf: internal error: {type(exc).__name__}: {safe_text(str(exc))} "
            "(a bug in cloudperf; please report it)\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
