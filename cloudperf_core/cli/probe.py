"""``cloudperf probe``: run the probe agent against the API (:mod:`cloudperf_core.agent`).

Runs until SIGTERM or SIGINT, which stop it cleanly (exit 0): a running fping is killed, an
unfinished job's lease simply lapses (another probe at the location gets the job), and what
is in the spool stays there for the next start. ``--once`` does one round (self-check,
heartbeat, one poll, its jobs, delivery of the whole spool) and exits 0, or 1 when something
failed (the API unreachable, fping unable to send): for cron and tests.
"""

from __future__ import annotations

import argparse
import signal
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import anyio
from anyio.abc import TaskStatus

from cloudperf_core.agent import Agent, AgentSettings, RoundSummary
from cloudperf_core.auth import probe_id_of
from cloudperf_core.cli.main import int_in
from cloudperf_core.cli.views import safe_text
from cloudperf_core.errors import CloudperfError

_DEFAULTS = AgentSettings()
SPOOL_FILE = "probe-spool.db"


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be in {low:g}..{high:g} s, got {text}")
        return value

    return convert


def add_probe_parser(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="run the probe agent: take jobs from the API, run them with fping, report back",
    )
    p.add_argument(
        "--api",
        required=True,
        metavar="URL",
        help="the API's base URL: https://... (http:// only to a server on this machine)",
    )
    p.add_argument(
        "--token-file",
        required=True,
        type=Path,
        metavar="PATH",
        help="file holding this probe's token (cpp_...), readable by this user only",
    )
    p.add_argument("--once", action="store_true", help="one round (poll, run, deliver), then exit")
    p.add_argument(
        "--spool",
        type=Path,
        metavar="PATH",
        help=f"SQLite file of undelivered reports (default: {SPOOL_FILE} in the user data dir)",
    )
    p.add_argument(
        "--max-jobs",
        type=int_in(1, 50),
        default=_DEFAULTS.max_parallel_jobs,
        help=f"jobs run at once ({_DEFAULTS.max_parallel_jobs})",
    )
    p.add_argument(
        "--heartbeat-s",
        type=_seconds(1, 3600),
        default=_DEFAULTS.heartbeat_interval_s,
        help=f"seconds between heartbeats ({_DEFAULTS.heartbeat_interval_s:g})",
    )
    p.add_argument(
        "--poll-s",
        type=_seconds(0.01, 3600),
        default=_DEFAULTS.poll_interval_s,
        help=f"least wait after a poll that found no job ({_DEFAULTS.poll_interval_s:g})",
    )
    p.add_argument(
        "--backoff-s",
        type=_seconds(0.01, 3600),
        default=_DEFAULTS.backoff_base_s,
        help=f"first wait after a failure, doubling (jittered) ({_DEFAULTS.backoff_base_s:g})",
    )
    p.add_argument(
        "--backoff-cap-s",
        type=_seconds(0.01, 86_400),
        default=_DEFAULTS.backoff_cap_s,
        help=f"longest wait after failures ({_DEFAULTS.backoff_cap_s:g})",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int_in(4096, 1_000_000),
        default=_DEFAULTS.max_body_bytes,
        help=f"split reports below this size; at most the API's limit ({_DEFAULTS.max_body_bytes})",
    )
    p.add_argument(
        "--timeout-s",
        type=_seconds(1, 600),
        default=30.0,
        help="how long one request to the API may take (30)",
    )


def _read_token(path: Path, err: TextIO) -> tuple[str, str]:
    """``(token, probe_id)`` from the token file; CloudperfError if it is not one."""
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CloudperfError(f"cannot read the token file {safe_text(str(path))}: {exc}") from exc
    probe_id = probe_id_of(token)
    if probe_id is None:
        raise CloudperfError(
            f"{safe_text(str(path))} does not hold a probe token (cpp_<probe>_<secret>, as "
            "`cloudperf admin register-probe` printed it)"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        err.write(
            f"cloudperf: warning: {safe_text(str(path))} is readable by other users; chmod 600 it\n"
        )
    return token, probe_id


def _spool_url(path: Path | None) -> tuple[str, Path]:
    if path is None:
        import platformdirs

        path = Path(platformdirs.user_data_dir("cloudperf", appauthor=False)) / SPOOL_FILE
    path = path.expanduser().resolve()
    return f"sqlite://{quote(str(path))}", path


def _agent_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudperf")
    except PackageNotFoundError:
        return "unknown"


async def cmd_probe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.backends import open_probe_api, open_report_spool
    from cloudperf_core.bootstrap import Config
    from cloudperf_core.fping.runner import FpingRunner

    token, probe_id = _read_token(args.token_file, err)
    settings = AgentSettings(
        heartbeat_interval_s=args.heartbeat_s,
        poll_interval_s=args.poll_s,
        max_parallel_jobs=args.max_jobs,
        backoff_base_s=args.backoff_s,
        backoff_cap_s=max(args.backoff_cap_s, args.backoff_s),
        max_body_bytes=args.max_body_bytes,
        agent_version=_agent_version(),
    )
    runner = FpingRunner(fping_path=Config.from_env().fping_path)
    spool_url, spool_path = _spool_url(args.spool)
    api = await open_probe_api(args.api, token, timeout_s=args.timeout_s)
    try:
        spool = await open_report_spool(spool_url)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await api.close()
        raise
    agent = Agent(api, spool, runner, settings=settings, source=probe_id)
    try:
        if args.once:
            return await _once(agent, probe_id, out, err)
        err.write(
            f"cloudperf: probe {probe_id} working for {safe_text(args.api)} "
            f"(spool {safe_text(str(spool_path))}); SIGTERM stops it\n"
        )
        err.flush()
        signum = await _until_signal(agent.run)
        pending = await spool.pending_count()
        err.write(
            f"cloudperf: probe {probe_id} stopped by {signal.Signals(signum).name}; "
            f"{pending} report(s) wait in the spool\n"
        )
        return 0
    finally:
        with anyio.CancelScope(shield=True):
            await api.close()
            await spool.close()


async def _once(agent: Agent, probe_id: str, out: TextIO, err: TextIO) -> int:
    result: list[RoundSummary] = []

    async def round_() -> None:
        result.append(await agent.run_once())

    signum = await _until_signal(round_)
    if not result:
        err.write(f"cloudperf: interrupted by {signal.Signals(signum).name}\n")
        return 128 + signum
    summary = result[0]
    for error in summary.errors:
        err.write(f"cloudperf: warning: {safe_text(error)}\n")
    out.write(
        f"probe {probe_id}: {summary.jobs_run} job(s) run, {summary.jobs_failed} failed; "
        f"{summary.delivered} report(s) delivered, {summary.rejected} refused (kept aside), "
        f"{summary.pending} waiting in the spool\n"
    )
    return 1 if summary.errors or summary.jobs_failed else 0


async def _until_signal(work: Callable[[], Awaitable[None]]) -> int:
    """Run ``work`` until it returns (0) or SIGTERM/SIGINT cancels it (the signal number).

    A CloudperfError from ``work`` is re-raised as itself (not inside an exception group).
    """
    received: list[int] = []
    failed: list[CloudperfError] = []
    async with anyio.create_task_group() as group:

        async def watch(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                task_status.started()
                async for signum in signals:
                    received.append(signum)
                    group.cancel_scope.cancel()
                    return

        async def run() -> None:
            try:
                await work()
            except CloudperfError as exc:
                failed.append(exc)
            group.cancel_scope.cancel()

        await group.start(watch)
        group.start_soon(run)
    if failed:
        raise failed[0]
    return received[0] if received else 0
