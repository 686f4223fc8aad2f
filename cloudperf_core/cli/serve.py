"""``cloudperf serve``: the whole service on one machine.

The HTTP API (and the web console) under uvicorn, with the worker and the scheduler tick as
tasks in the same event loop (:mod:`cloudperf_core.service.background`), all on the backends
of the composition root: with no configuration the embedded default (the SQLite file plus
in-process memory queues and cache), with ``mysql://``, ``redis://`` and ``sqs://`` URLs on real
services. Once the socket accepts connections it prints ``cloudperf serve: listening on URL``.
SIGTERM or SIGINT stop it cleanly (exit 0): the server stops accepting, requests in flight get
a few seconds, the worker finishes (or releases) the batch in hand.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Generator
from typing import Any, TextIO

import anyio
import uvicorn

from cloudperf_core.cli.main import config_of, int_in
from cloudperf_core.errors import ListenError

GRACEFUL_SHUTDOWN_S = 5


def add_serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the API, the web console, the worker and the scheduler on this machine",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument(
        "--port", type=int_in(0, 65535), default=8080, help="TCP port (8080; 0: any free port)"
    )
    p.add_argument("--store", default=None, help="store URL (default: CLOUDPERF_STORE or SQLite)")
    p.add_argument("--no-worker", action="store_true", help="do not ingest the reports queue")
    p.add_argument("--no-scheduler", action="store_true", help="do not issue jobs")


class _Server(uvicorn.Server):
    """uvicorn, but the signals are ours: uvicorn's own handlers re-raise the signal after a
    graceful stop, which would end the process with 143 instead of a clean 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a host name: resolved by bind
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(1024)  # connections queue from here on, so announcing the URL now is safe
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cloudperf_core.api.app import create_app
    from cloudperf_core.api.context import ApiContext
    from cloudperf_core.bootstrap import Services
    from cloudperf_core.clock import SystemClock
    from cloudperf_core.service.background import run_scheduler, run_worker

    config = config_of(args)
    clock = SystemClock()
    async with Services(config) as services:
        # A bad URL, a missing driver or an unreachable database fails here, in one line.
        await services.open("store", "catalog", "reports", "jobs", "cache")
        app = create_app(ApiContext(services=services, settings=config.settings, clock=clock))
        sock = _listen(args.host, args.port)
        server = _Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            )
        )
        stop = anyio.Event()
        with sock:
            out.write(f"cloudperf serve: listening on {_url(sock)}\n")
            out.flush()
            if not _is_loopback(args.host):
                err.write(
                    "cloudperf: warning: serving plain HTTP beyond this machine; tokens travel "
                    "in headers, so put a TLS proxy in front\n"
                )
            async with anyio.create_task_group() as group:

                async def watch_signals() -> None:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for _ in signals:
                            server.should_exit = True
                            stop.set()
                            return

                loops_done = anyio.Event()

                async def loops() -> None:
                    try:
                        async with anyio.create_task_group() as inner:
                            if not args.no_worker:
                                inner.start_soon(
                                    run_worker,
                                    await services.reports(),
                                    await services.store(),
                                    await services.catalog(),
                                    clock,
                                    stop,
                                )
                            if not args.no_scheduler:
                                inner.start_soon(
                                    run_scheduler,
                                    await services.tick_ports(),
                                    config.settings,
                                    clock,
                                    stop,
                                )
                    finally:
                        loops_done.set()

                group.start_soon(watch_signals)
                group.start_soon(loops)
                await server.serve(sockets=[sock])
                # The server stopped (a signal, or it could not start): the loops finish the
                # unit of work in hand and return; the signal watcher is no longer needed.
                stop.set()
                with anyio.move_on_after(GRACEFUL_SHUTDOWN_S * 2):
                    await loops_done.wait()
                group.cancel_scope.cancel()
        return 0
