"""``cloudperf measure``: check everything, probe, then keep the measurement whatever fails.

Order: options, targets, source and ``--report-out`` are checked and the store is opened
before fping runs, so a mistake costs no probing. After probing, the report is stored first
(storing is atomic: all of it or nothing), then written to ``--report-out``; if either fails,
the report is saved to a safe place (``--report-out`` if it works, else the user data
directory, else the temp directory) and the one error line says where and how to ingest it.
The results are printed in any case.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import stat
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import anyio

from cloudperf_core.cli.main import config_of
from cloudperf_core.cli.views import JsonArrayWriter, TableWriter, result_json, safe_text
from cloudperf_core.errors import CloudperfError
from cloudperf_core.models import MeasurementReport, ProbeSpec

if TYPE_CHECKING:
    from cloudperf_core.bootstrap import Config

T = TypeVar("T")

NOT_STORED = ": fping was stopped and nothing was stored"


def runner_of(config: Config) -> Any:
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


# --- keeping the report --------------------------------------------------------------------


def check_report_path(path: Path) -> None:
    """Refuse, before measuring, a ``--report-out`` that cannot be created."""
    where = f"--report-out {safe_text(str(path))}"
    if path.is_dir():
        raise CloudperfError(f"{where}: is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise CloudperfError(f"{where}: directory {safe_text(str(parent))} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CloudperfError(f"{where}: directory {safe_text(str(parent))} is not writable")


def write_report(body: bytes, path: Path) -> None:
    """Write ``body`` to ``path``: a regular file is replaced atomically (temp file + rename),
    so a failure never leaves half a report; anything else (a FIFO, a device) is written."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not stat.S_ISREG(mode):
        path.write_bytes(body)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def safe_places(report_id: str) -> list[Path]:
    """Where a report goes when it cannot go where it was asked: data dir, then temp dir."""
    import platformdirs

    name = f"report-{report_id}.json"
    data = Path(platformdirs.user_data_dir("cloudperf", appauthor=False)) / "reports"
    return [data / name, Path(tempfile.gettempdir()) / f"cloudperf-{name}"]


def save_somewhere(body: bytes, report_id: str) -> tuple[Path | None, list[str]]:
    """Write the report to the first safe place that works; ``(path, failures)``."""
    failures: list[str] = []
    for place in safe_places(report_id):
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            write_report(body, place)
        except OSError as exc:
            failures.append(f"{place}: {exc.strerror or exc}")
            continue
        return place, failures
    return None, failures


def keep_report(
    report: MeasurementReport, report_out: Path | None, store_error: CloudperfError | None
) -> str | None:
    """Write ``--report-out`` (and a safe copy if needed); the error line to print, if any."""
    from cloudperf_core import service

    body = service.encode_report(report)
    problems: list[str] = []
    if store_error is not None:
        problems.append(f"the measurement was not stored ({store_error})")
    written: Path | None = None
    if report_out is not None:
        try:
            write_report(body, report_out)
            written = report_out
        except OSError as exc:
            problems.append(f"cannot write {report_out}: {exc.strerror or exc}")
    if not problems:
        return None
    if written is None:
        written, failures = save_somewhere(body, report.report_id)
        if written is None:
            problems.append("and it could not be saved anywhere (" + "; ".join(failures) + ")")
            return safe_text("; ".join(problems))
        problems.append(f"the report is saved in {written}")
    if store_error is not None:
        problems.append(f"store it later with: cloudperf ingest {written}")
    return safe_text("; ".join(problems))


# --- the command ---------------------------------------------------------------------------


def _spec(args: argparse.Namespace) -> ProbeSpec:
    from cloudperf_core.fping.argv import validate_probe_spec

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
    return validate_probe_spec(spec)


def _check_source(source: str, spec: ProbeSpec) -> None:
    """The report rules (``service.validate_report``) applied before probing, not after."""
    from cloudperf_core import service
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.errors import ReportRejectedError

    empty = MeasurementReport(
        report_id="check",
        source=source,
        started_at_ms=SystemClock().now_ms(),
        spec=spec,
        results=[],
    )
    try:
        service.validate_report(empty)
    except ReportRejectedError as exc:
        raise CloudperfError(f"--source: {exc.reason}") from exc


async def cmd_measure(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core import service
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.stats import compute_stats_many

    spec = _spec(args)
    source = args.source if args.source is not None else socket.gethostname()
    _check_source(source, spec)
    if args.report_out is not None:
        check_report_path(args.report_out)
    config = config_of(args)
    runner = runner_of(config)
    args.interrupt_note = NOT_STORED
    services = Services(config)
    problem: str | None = None
    try:
        # Opened before measuring, so a bad store URL fails before any probe is sent.
        store = None if args.no_store else await services.store()
        progress = _Progress(err, spec) if err.isatty() and not args.json else None
        report = await _with_progress(
            progress,
            service.measure(
                runner,
                spec,
                source=source,
                clock=SystemClock(),
                on_progress=progress.batch_done if progress is not None else None,
            ),
        )
        store_error: CloudperfError | None = None
        if store is not None:
            try:
                # Shielded: a signal now lets the (atomic) store finish, and says so.
                with anyio.CancelScope(shield=True):
                    await service.ingest_reports(store, [report], window_s=args.window_s)
                args.interrupt_note = f": the measurement was stored (report {report.report_id})"
            except CloudperfError as exc:
                store_error = exc
        problem = keep_report(report, args.report_out, store_error)
    finally:
        with anyio.CancelScope(shield=True):
            await services.aclose()
    stats = compute_stats_many(report.results)
    rows = [result_json(r, s) for r, s in zip(report.results, stats, strict=True)]
    writer = JsonArrayWriter(out) if args.json else TableWriter(out)
    writer.write(rows)
    writer.close()
    if problem is not None:
        out.flush()
        err.write(f"cloudperf: error: {problem}\n")
        return 1
    return 0
