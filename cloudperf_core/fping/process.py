"""Run one program from an argv list under a deadline and an output cap, with anyio.

:class:`AnyioProcessExecutor` is the real :class:`~cloudperf_core.ports.ProcessExecutor`:
stdout and stderr are drained concurrently (a full stderr pipe would otherwise stall fping),
at most ``max_output_bytes`` of them are kept, and the child never outlives the call — on
deadline, output overflow, cancellation or any error its whole process group (a wrapper script
and the fping it started alike) gets SIGTERM, then SIGKILL after a grace period, and is reaped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

import anyio
from anyio import CancelScope
from anyio.abc import ByteReceiveStream, Process

from cloudperf_core.errors import FpingError, FpingNotFoundError, RunnerTimeoutError
from cloudperf_core.models import ProcessResult

logger = logging.getLogger(__name__)

# fping formats times with %c/strftime and prints error text from the C library: pin both.
FPING_ENV_OVERRIDES: Mapping[str, str] = {"LC_ALL": "C", "TZ": "UTC"}

INSTALL_HINT = (
    "install it: apt-get install fping (Debian/Ubuntu) or set CLOUDPERF_FPING to its path"
)


class _Output:
    """Chunks read from both pipes, and whether together they passed the cap."""

    def __init__(self, max_bytes: int, scope: CancelScope) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self.exceeded = False
        self.scope = scope


class AnyioProcessExecutor:
    """Runs argv (never through a shell) and collects its output.

    ``env`` defaults to this process's environment with ``LC_ALL=C`` and ``TZ=UTC``;
    ``kill_grace_s`` is how long a child gets between SIGTERM and SIGKILL.
    """

    def __init__(self, *, env: Mapping[str, str] | None = None, kill_grace_s: float = 1.0) -> None:
        base = dict(os.environ) if env is None else dict(env)
        self._env = {**base, **FPING_ENV_OVERRIDES}
        self._kill_grace_s = kill_grace_s

    async def run(
        self, argv: Sequence[str], *, deadline_s: float, max_output_bytes: int
    ) -> ProcessResult:
        """Run ``argv`` to completion and return its exit code and output.

        Raises :class:`RunnerTimeoutError` after killing the process if it is still running
        after ``deadline_s`` seconds, :class:`FpingError` after killing it if stdout and
        stderr together pass ``max_output_bytes``, and :class:`FpingNotFoundError` if the
        program is missing. Cancellation kills and reaps the process before propagating.
        """
        argv = tuple(argv)
        if not argv:
            raise FpingNotFoundError("no program to run (empty argv)")
        try:
            process = await anyio.open_process(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                start_new_session=True,  # its own process group: one signal reaches all of it
            )
        except FileNotFoundError as exc:
            raise FpingNotFoundError(f"fping not found at {argv[0]!r}: {INSTALL_HINT}") from exc
        except PermissionError as exc:
            raise FpingNotFoundError(
                f"fping at {argv[0]!r} is not executable ({exc.strerror}): {INSTALL_HINT}"
            ) from exc
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        finished = False
        try:
            with anyio.move_on_after(deadline_s) as scope:
                async with anyio.create_task_group() as group:
                    output = _Output(max_output_bytes, group.cancel_scope)
                    assert process.stdout is not None and process.stderr is not None
                    group.start_soon(_drain, process.stdout, stdout, output)
                    group.start_soon(_drain, process.stderr, stderr, output)
                if output.exceeded:
                    raise FpingError(
                        f"{argv[0]} printed more than {max_output_bytes} bytes, far more than "
                        "this job can legitimately print, and was killed"
                    )
                exit_code = await process.wait()
                finished = True
            if scope.cancelled_caught:
                raise RunnerTimeoutError(
                    f"{argv[0]} did not finish within {deadline_s:.3g} s and was killed"
                )
        finally:
            # Runs on deadline, on cancellation and on any error: no orphan fping.
            with anyio.CancelScope(shield=True):
                await self._reap(process, leftovers=not finished)
        return ProcessResult(
            argv=argv, exit_code=exit_code, stdout=b"".join(stdout), stderr=b"".join(stderr)
        )

    async def _reap(self, process: Process, *, leftovers: bool) -> None:
        if process.returncode is None:
            logger.debug("terminating process group %d", process.pid)
            _signal_group(process.pid, signal.SIGTERM)
            with anyio.move_on_after(self._kill_grace_s):
                await process.wait()
            if process.returncode is None:
                logger.warning("pid %d ignored SIGTERM; sending SIGKILL", process.pid)
                _signal_group(process.pid, signal.SIGKILL)
        await process.aclose()
        if leftovers:
            # A wrapper that exited may have left its fping behind, holding the pipes.
            _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    # The group may be gone already (everything in it exited).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _drain(stream: ByteReceiveStream, chunks: list[bytes], output: _Output) -> None:
    async for chunk in stream:
        output.total += len(chunk)
        if output.total > output.max_bytes:
            output.exceeded = True
            output.scope.cancel()
            return
        chunks.append(chunk)
