"""``cloudperf admin ...``: the use-cases the admin Lambda runs, from a terminal.

Secrets: ``create-user`` reads the password from stdin only (``--password-stdin``), never
from the command line (argv is visible to every user of the machine); ``register-probe`` and
``rotate-token`` print the token once on stdout and nothing else there (messages go to
stderr), so ``cloudperf admin register-probe syd-1 --location ... > token`` captures it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO

import anyio.to_thread

from cloudperf_core.catalog import ROLES
from cloudperf_core.cli.main import EXIT_USAGE, parse_duration_s
from cloudperf_core.cli.views import safe_text
from cloudperf_core.errors import CloudperfError, InvalidSpecError
from cloudperf_core.models import Grouping

MAX_ISSUES_SHOWN = 20
_GROUPINGS = ("pair", "source", "target", "location", "city", "asn", "country", "group", "overall")


def parse_since_s(text: str, now_s: int) -> int:
    """A start time: a duration back from now (``2h``, ``7d``) or an ISO 8601 date/time (UTC
    unless it names a zone)."""
    try:
        return max(0, now_s - parse_duration_s(text))
    except argparse.ArgumentTypeError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration or a date: {text!r} (use e.g. 2h, 7d or 2024-05-01T00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0, int(when.timestamp()))


def when_s(text: str) -> int:
    """An argparse type: :func:`parse_since_s` against the current time."""
    import time

    return parse_since_s(text, int(time.time()))


def parse_grouping(text: str) -> str | Grouping:
    """A named grouping (``pair``, ``country``, ...) or ``SOURCE:DEST`` (``probe_location:asn``)."""
    if text in _GROUPINGS:
        return text
    source, sep, dest = text.partition(":")
    if sep and source in ("probe", "probe_location", "none") and dest in (
        "target", "location", "city", "asn", "country", "group", "none",
    ):  # fmt: skip
        return Grouping(source=source, dest=dest)  # type: ignore[arg-type]
    raise argparse.ArgumentTypeError(
        f"not a grouping: {text!r} (one of {', '.join(_GROUPINGS)}, or SOURCE:DEST with "
        "SOURCE probe|probe_location|none and DEST target|location|city|asn|country|group|none)"
    )


def add_admin_parser(sub: Any) -> None:
    a = sub.add_parser("admin", help="administration: users, probes, pause, import, export")
    cmds = a.add_subparsers(
        dest="admin_command", required=True, metavar="SUBCOMMAND", parser_class=type(a)
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = cmds.add_parser(name, help=text)
        c.add_argument("--store", default=None, help="store URL (default: $CLOUDPERF_STORE)")
        c.add_argument("--catalog", default=None, help="catalogue URL (default: the store's)")
        return c

    command("migrate", "apply schema migrations of the store and catalogue")
    u = command("create-user", "add a user (password read from stdin)")
    u.add_argument("name")
    u.add_argument("--role", choices=ROLES, required=True)
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    r = command("register-probe", "add a probe; prints its token once")
    r.add_argument("name", help="probe id: a-z, 0-9 and '-', up to 63 characters")
    r.add_argument("--location", required=True, help="catalogue location name")
    for name, text in (
        ("rotate-token", "new token for a probe (the old one stops working); printed once"),
        ("disable-probe", "refuse the probe's calls (403) until enabled again"),
        ("enable-probe", "accept the probe's calls again"),
    ):
        command(name, text).add_argument("name")
    command("pause", "stop issuing jobs (polls answer none)")
    command("resume", "issue jobs again")
    i = command("import", "import a catalogue file (resumes an interrupted one)")
    i.add_argument("kind", choices=("ip2asn", "cities"), help="ip2asn TSV or DB-IP Lite city CSV")
    i.add_argument("file", type=Path)
    i.add_argument("--restart", action="store_true", help="start from the top, not a checkpoint")
    add_export_arguments(command("export", EXPORT_HELP))


EXPORT_HELP = "measurements per window as CSV, JSON lines, Influx line protocol or OpenMetrics"


def add_export_arguments(e: argparse.ArgumentParser) -> None:
    from cloudperf_core.service.export import EXPORT_FORMATS

    e.add_argument(
        "--since", type=when_s, required=True, metavar="WHEN", help="e.g. 2h, 7d, 2024-05-01"
    )
    e.add_argument("--until", type=when_s, default=None, metavar="WHEN", help="(default: now)")
    e.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    e.add_argument(
        "--group-by", type=parse_grouping, default="pair", metavar="GROUPING",
        help="pair (default), source, target, location, city, asn, country, group, overall, "
        "or SOURCE:DEST, e.g. probe_location:country",
    )  # fmt: skip
    e.add_argument(
        "--source", action="append", dest="sources", metavar="PROBE",
        help="only windows of this probe (repeatable)",
    )  # fmt: skip


def add_export_parser(sub: Any) -> None:
    e = sub.add_parser("export", help=EXPORT_HELP)
    e.add_argument("--store", default=None, help="store URL (default: $CLOUDPERF_STORE)")
    e.add_argument("--catalog", default=None, help="catalogue URL (default: the store's)")
    add_export_arguments(e)


async def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``cloudperf export``: what ``cloudperf admin export`` writes."""
    from cloudperf_core.bootstrap import Config, Services

    async with Services(Config.from_env(store=args.store, catalog=args.catalog)) as services:
        return await _export(args, services, out, err)


async def cmd_admin(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.bootstrap import Config, Services

    config = Config.from_env(store=args.store, catalog=args.catalog)
    command: str = args.admin_command
    if command == "create-user" and not args.password_stdin:
        err.write(
            "cloudperf admin create-user: error: the password is read from stdin only: "
            'pass --password-stdin (e.g. printf %s "$PW" | cloudperf admin create-user ...)\n'
        )
        return EXIT_USAGE
    async with Services(config) as services:
        return await _COMMANDS[command](args, services, out, err)


async def _migrate(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.ports import Migratable

    done: set[int] = set()
    for port in ("store", "catalog"):
        backend = await services.port(port)
        if id(backend) in done:
            continue
        done.add(id(backend))
        if not isinstance(backend, Migratable):
            out.write(f"{port}: schema is managed automatically\n")
            continue
        applied = await backend.migrate()
        version = await backend.schema_version()
        what = f"applied {', '.join(map(str, applied))}" if applied else "up to date"
        out.write(f"{port}: {what} (schema version {version})\n")
    return 0


async def _create_user(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.auth import PasswordHasher
    from cloudperf_core.service import directory

    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidSpecError("no password on stdin")
    hasher = PasswordHasher(services.config.settings)
    user = await directory.create_user(
        await services.catalog(), hasher, args.name, password, args.role
    )
    out.write(f"created user {safe_text(user.name)} ({user.role})\n")
    return 0


async def _register_probe(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service import directory

    catalog = await services.catalog()
    probe, token = await directory.register_probe(
        catalog, catalog, SystemClock(), args.name, args.location
    )
    out.write(token + "\n")
    err.write(
        f"registered probe {probe.probe_id} at {safe_text(args.location)}; its token is "
        "printed above this once (only a hash is kept)\n"
    )
    return 0


async def _rotate_token(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.service import directory

    token = await directory.rotate_token(await services.catalog(), args.name)
    out.write(token + "\n")
    err.write(f"new token for probe {safe_text(args.name)} above; the old one no longer works\n")
    return 0


async def _set_enabled(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.service import directory

    enabled = args.admin_command == "enable-probe"
    probe = await directory.set_probe_enabled(await services.catalog(), args.name, enabled)
    out.write(f"probe {probe.probe_id} {'enabled' if probe.enabled else 'disabled'}\n")
    return 0


async def _pause(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.service import directory

    settings = await directory.set_paused(await services.catalog(), args.admin_command == "pause")
    out.write("paused: no new jobs\n" if settings.paused else "resumed: jobs are issued\n")
    return 0


async def _import(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from tqdm import tqdm

    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service.admin import import_catalog

    path: Path = args.file
    with tqdm(
        unit="B", unit_scale=True, file=err, leave=False, disable=not err.isatty(),
        desc=f"import {args.kind}",
    ) as bar:  # fmt: skip

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(max(0, done - bar.n))

        result = await import_catalog(
            await services.catalog(), await services.store(), path, args.kind,
            clock=SystemClock(), restart=args.restart, progress=progress,
        )  # fmt: skip
    name = safe_text(str(path))
    if result.records == 0 and result.skipped > 0:
        first = result.issues[0]
        raise CloudperfError(
            f"{name}: no usable {args.kind} line ({result.skipped} skipped; line {first.line}: "
            f"{first.reason})"
        )
    for issue in result.issues[:MAX_ISSUES_SHOWN]:
        err.write(f"cloudperf: warning: {name} line {issue.line}: {safe_text(issue.reason)}\n")
    if result.skipped > MAX_ISSUES_SHOWN:
        err.write(f"cloudperf: warning: {result.skipped - MAX_ISSUES_SHOWN} more lines skipped\n")
    if result.resumed_at_line is not None:
        out.write(f"resumed at line {result.resumed_at_line}\n")
    out.write(
        f"imported {args.kind}: {result.lines} lines, {result.records} records, "
        f"{result.ranges} ranges and {result.locations} locations written, "
        f"{result.skipped} lines skipped, {result.not_routed} not routed; "
        f"{result.retagged} stored windows tagged\n"
    )
    return 0


async def _export(args: Any, services: Any, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service.admin import export_lines, export_rows

    until_s = SystemClock().now_ms() // 1000 + 1 if args.until is None else args.until
    rows = export_rows(
        await services.store(), await services.catalog(), since_s=args.since, until_s=until_s,
        group_by=args.group_by, sources=args.sources,
    )  # fmt: skip
    async for line in export_lines(rows, args.format):
        out.write(line)
    return 0


_COMMANDS = {
    "migrate": _migrate,
    "create-user": _create_user,
    "register-probe": _register_probe,
    "rotate-token": _rotate_token,
    "disable-probe": _set_enabled,
    "enable-probe": _set_enabled,
    "pause": _pause,
    "resume": _pause,
    "import": _import,
    "export": _export,
}
