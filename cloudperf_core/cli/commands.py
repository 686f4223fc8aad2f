"""``cloudperf parse | report | ingest | discover | db``: options in, views out; the work is in
the core (parser, stats) and ``service``.

``parse`` streams: the input is read in blocks of whole lines (``PARSE_BLOCK_BYTES``), each
block's complete targets are printed before the next block is read, so memory stays a small
multiple of one block whatever the input's size (see ``FpingStreamParser`` for what merges).
With ``--strict`` nothing is printed unless the whole input parses: the input is checked in
one streaming pass first (stdin is spooled to a temporary file for that).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

from cloudperf_core.cli.main import config_of
from cloudperf_core.cli.views import (
    JsonArrayWriter,
    TableWriter,
    group_json,
    result_json,
    safe_text,
)
from cloudperf_core.errors import CloudperfError
from cloudperf_core.models import DiscoverySpec, ParseWarning, StatsQuery, TargetResult

#: Bytes of fping output parsed at a time by ``cloudperf parse``.
PARSE_BLOCK_BYTES = 8 << 20
#: Targets turned into stats and output rows at a time (rows cost ~20x their input bytes).
PRINT_BATCH_TARGETS = 4096


def _blocks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """The stream in pieces of about ``size`` bytes that end at a newline (the last may not)."""
    rest = b""
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data  # no line end yet: a very long line
            continue
        rest = data[cut:]
        yield data[:cut]
    if rest:
        yield rest


def _open_input(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        return Path(name).open("rb")
    except OSError as exc:
        raise CloudperfError(f"cannot read {safe_text(name)}: {exc.strerror or exc}") from exc


def _parse_stream(
    stream: IO[bytes], name: str, strict: bool, err: TextIO | None
) -> Iterator[list[TargetResult]]:
    from cloudperf_core.fping.parser import FpingStreamParser

    parser = FpingStreamParser(strict=strict)
    try:
        for block in _blocks(stream, PARSE_BLOCK_BYTES):
            done = parser.feed(block.decode("utf-8", "replace"))
            _report_lines(parser.warnings, parser.fatal, err)
            if done:
                yield done
    except OSError as exc:
        raise CloudperfError(f"cannot read {safe_text(name)}: {exc.strerror or exc}") from exc
    yield parser.close()
    _report_lines(parser.warnings, parser.fatal, err)


def _report_lines(warnings: list[ParseWarning], fatal: list[str], err: TextIO | None) -> None:
    if err is not None:
        for w in warnings:
            err.write(f"cloudperf: warning: line {w.line_no}: {w.reason}: {safe_text(w.line)}\n")
        for line in fatal:
            err.write(f"cloudperf: fping reported: {safe_text(line)}\n")
    warnings.clear()
    fatal.clear()


def cmd_parse(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.stats import compute_stats_many

    stream = _open_input(args.file)
    try:
        if args.strict:
            if not stream.seekable():
                spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
                shutil.copyfileobj(stream, spool)
                stream = spool
            stream.seek(0)
            for _ in _parse_stream(stream, args.file, True, None):
                pass  # the first line that does not parse raises here, before any output
            stream.seek(0)
        writer = JsonArrayWriter(out) if args.json else TableWriter(out)
        for targets in _parse_stream(stream, args.file, args.strict, err):
            for i in range(0, len(targets), PRINT_BATCH_TARGETS):
                batch = targets[i : i + PRINT_BATCH_TARGETS]
                stats = compute_stats_many(batch)
                writer.write([result_json(r, s) for r, s in zip(batch, stats, strict=True)])
        writer.close()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return 0


async def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.clock import SystemClock

    since_s = None
    if args.since is not None:
        since_s = max(0, SystemClock().now_ms() // 1000 - args.since)
    query = StatsQuery(
        sources=tuple(args.sources) if args.sources else None,
        targets=tuple(args.targets) if args.targets else None,
        since_s=since_s,
    )
    async with Services(config_of(args)) as services:
        groups = await service.query_stats(await services.store(), query, args.group_by)
    rows = [group_json(g) for g in groups]
    if args.json:
        writer: JsonArrayWriter | TableWriter = JsonArrayWriter(out)
    elif not rows:
        err.write("no measurements stored for this query\n")
        return 0
    else:
        if args.group_by == "overall":
            for row in rows:
                row["target"] = "(all)"
        elif args.group_by == "source":
            for row in rows:
                row["target"] = row["source"]
        first = "source" if args.group_by == "pair" else "target"
        writer = TableWriter(out, first_column=first)
    writer.write(rows)
    writer.close()
    return 0


async def cmd_ingest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services

    try:
        body = args.file.read_bytes()
    except OSError as exc:
        raise CloudperfError(
            f"cannot read {safe_text(str(args.file))}: {exc.strerror or exc}"
        ) from exc
    report = service.decode_report(body)
    async with Services(config_of(args)) as services:
        store = await services.store()
        outcome = await service.ingest_reports(store, [report], window_s=args.window_s)
    if outcome.conflicts:
        raise CloudperfError(
            f"report id {safe_text(report.report_id)} was ingested before with different "
            "content; not stored (give the report a new id)"
        )
    if outcome.duplicates:
        out.write(f"report {report.report_id} was already ingested; nothing changed\n")
    else:
        out.write(f"ingested report {report.report_id} ({len(report.results)} targets)\n")
    return 0


async def cmd_discover(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.cli.measure import runner_of
    from cloudperf_core.fping.argv import validate_discovery_spec

    start, _, end = args.range.partition("-")
    spec = DiscoverySpec(
        start=start.strip(),
        end=end.strip() or None,
        max_hosts=args.max_hosts,
        timeout_ms=args.timeout_ms,
        retries=args.retries,
    )
    validate_discovery_spec(spec)
    alive = await runner_of(config_of(args)).discover(spec)
    if args.json:
        writer = JsonArrayWriter(out)
        writer.write(alive)
        writer.close()
    else:
        out.write("".join(f"{a}\n" for a in alive))
    return 0


async def cmd_db(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.backends import redact_url
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.ports import Migratable

    async with Services(config_of(args)) as services:
        store = await services.store()
        if not isinstance(store, Migratable):
            out.write(f"{safe_text(redact_url(args.store))}: schema is managed automatically\n")
            return 0
        applied = await store.migrate()
        version = await store.schema_version()
    if applied:
        out.write(f"applied migrations {', '.join(map(str, applied))}; schema version {version}\n")
    else:
        out.write(f"schema is up to date (version {version})\n")
    return 0
