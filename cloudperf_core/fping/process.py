"""Run one program from an argv list under a deadline, with anyio.

:class:`AnyioProcessExecutor` is the real :class:`~cloudperf_core.ports.ProcessExecutor`:
stdout and stderr are drained concurrently (a full stderr pipe would otherwise stall fping),
and the child never outlives the call — on deadline, cancellation or any error it gets
SIGTERM, then SIGKILL after a grace period, and is reaped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

import anyio
from anyio.abc import ByteReceiveStream, Process

from cloudperf_core.errors import FpingNotFoundError, RunnerTimeoutError
from cloudperf_core.models import ProcessResult

logger = logging.getLogger(__name__)

# fping formats times with %c/strftime and prints error text from the C library: pin both.
FPING_ENV_OVERRIDES: Mapping[str, str] = {"LC_ALL": "C", "TZ": "UTC"}

INSTALL_HINT = (
    "install it: apt-get install fping (Debian/Ubuntu) or set CLOUDPERF_FPING to its path"
)


class AnyioProcessExecutor:
    """Runs argv (never through a shell) and collects its output.

    ``env`` defaults to this process's environment with ``LC_ALL=C`` and ``TZ=UTC``;
    ``kill_grace_s`` is how long a child gets between SIGTERM and SIGKILL.
    """

    def __init__(self, *, env: Mapping[str, str] | None = None, kill_grace_s: float = 1.0) -> None:
        base = dict(os.environ) if env is None else dict(env)
        self._env = {**base, **FPING_ENV_OVERRIDES}
        self._kill_grace_s = kill_grace_s

    async def run(self, argv: Sequence[str], *, deadline_s: float) -> ProcessResult:
        """Run ``argv`` to completion and return its exit code and output.

        Raises :class:`RunnerTimeoutError` after killing the process if it is still running
        after ``deadline_s`` seconds, and :class:`FpingNotFoundError` if the program is
        missing. Cancellation kills and reaps the process before propagating.
        """
        argv = tuple(argv)
        if not argv:
            raise ValueError("argv must not be empty")
        try:
            process = await anyio.open_process(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except FileNotFoundError as exc:
            raise FpingNotFoundError(f"fping not found at {argv[0]!r}: {INSTALL_HINT}") from exc
        except PermissionError as exc:
            raise FpingNotFoundError(
                f"fping at {argv[0]!r} is not executable ({exc.strerror}): {INSTALL_HINT}"
            ) from exc
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        try:
            with anyio.move_on_after(deadline_s) as scope:
                async with anyio.create_task_group() as group:
                    assert process.stdout is not None and process.stderr is not None
                    group.start_soon(_drain, process.stdout, stdout)
                    group.start_soon(_drain, process.stderr, stderr)
                exit_code = await process.wait()
            if scope.cancelled_caught:
                raise RunnerTimeoutError(
                    f"{argv[0]} did not finish within {deadline_s:.3g} s and was killed"
                )
        finally:
            # Runs on deadline, on cancellation and on any error: no orphan fping.
            with anyio.CancelScope(shield=True):
                await self._reap(process)
        return ProcessResult(
            argv=argv, exit_code=exit_code, stdout=b"".join(stdout), stderr=b"".join(stderr)
        )

    async def _reap(self, process: Process) -> None:
        if process.returncode is None:
            logger.debug("terminating pid %d", process.pid)
            _signal(process, kill=False)
            with anyio.move_on_after(self._kill_grace_s):
                await process.wait()
            if process.returncode is None:
                logger.warning("pid %d ignored SIGTERM; sending SIGKILL", process.pid)
                _signal(process, kill=True)
        await process.aclose()


def _signal(process: Process, *, kill: bool) -> None:
    # The process may exit between the returncode check and the signal.
    with contextlib.suppress(ProcessLookupError):
        process.kill() if kill else process.terminate()


async def _drain(stream: ByteReceiveStream, chunks: list[bytes]) -> None:
    async for chunk in stream:
        chunks.append(chunk)
