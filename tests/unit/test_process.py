"""Runner tests with the real fping binary and real processes — loopback addresses ONLY.

These start subprocesses (marked ``runner``); every probe goes to 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import anyio
import pytest

from cloudperf_core.bootstrap import Config
from cloudperf_core.errors import (
    FpingError,
    FpingNotFoundError,
    ProbePermissionError,
    RunnerTimeoutError,
)
from cloudperf_core.fping.process import AnyioProcessExecutor
from cloudperf_core.fping.runner import FpingRunner, probe_output_cap, resolve_fping_path
from cloudperf_core.models import DiscoverySpec, ProbeSpec, ProcessResult

FPING = shutil.which("fping")
pytestmark = [
    pytest.mark.runner,
    pytest.mark.skipif(FPING is None, reason="fping is not installed"),
]


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a reaped child is gone entirely)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _fping_children() -> set[int]:
    """PIDs of fping processes whose parent is this test process."""
    me = os.getpid()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if name == "fping" and ppid == me:
            pids.add(int(entry.name))
    return pids


def _ipv6_loopback_works() -> bool:
    import subprocess

    assert FPING is not None
    done = subprocess.run(
        [FPING, "-c", "1", "-t", "500", "-q", "--", "::1"], capture_output=True, check=False
    )
    return done.returncode == 0


# --- the executor -------------------------------------------------------------------------


async def test_executor_collects_exit_code_stdout_and_stderr_with_c_locale() -> None:
    script = "import os,sys; print(os.environ['LC_ALL'], os.environ['TZ']); sys.exit(3)"
    result = await AnyioProcessExecutor().run(
        [sys.executable, "-c", script], deadline_s=30, max_output_bytes=1 << 20
    )
    assert result.exit_code == 3
    assert result.stdout == b"C UTC\n"


async def test_deadline_kills_fping_and_leaves_no_process() -> None:
    assert FPING is not None
    argv = [FPING, "-C", "10000", "-q", "-p", "100", "-t", "100", "--", "127.0.0.1"]
    with pytest.raises(RunnerTimeoutError, match="killed"):
        await AnyioProcessExecutor().run(argv, deadline_s=0.3, max_output_bytes=1 << 20)
    assert _fping_children() == set()


async def test_cancellation_kills_and_reaps_fping() -> None:
    assert FPING is not None
    argv = [FPING, "-C", "10000", "-q", "-p", "100", "-t", "100", "--", "127.0.0.1"]
    seen: set[int] = set()
    async with anyio.create_task_group() as group:
        group.start_soon(
            partial(AnyioProcessExecutor().run, argv, deadline_s=3600.0, max_output_bytes=1 << 20)
        )
        with anyio.fail_after(10):
            while not seen:  # wait until fping is really running
                await anyio.sleep(0.02)
                seen = _fping_children()
        group.cancel_scope.cancel()
    assert seen and not any(_alive(pid) for pid in seen)
    assert _fping_children() == set()


async def test_sigterm_ignoring_child_is_killed_after_grace() -> None:
    script = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    executor = AnyioProcessExecutor(kill_grace_s=0.2)
    with pytest.raises(RunnerTimeoutError):
        await executor.run([sys.executable, "-c", script], deadline_s=0.5, max_output_bytes=1 << 20)


async def test_a_child_flooding_stderr_is_killed_at_the_output_cap() -> None:
    # An fping (or wrapper) that floods stderr used to grow this process to gigabytes.
    script = "import sys\nwhile True: sys.stderr.write('x' * 65536)"
    with pytest.raises(FpingError, match="more than 1000000 bytes"):
        await AnyioProcessExecutor().run(
            [sys.executable, "-c", script], deadline_s=60, max_output_bytes=1_000_000
        )


async def test_runner_caps_a_flooding_fping_relative_to_the_job(tmp_path: Path) -> None:
    flood = tmp_path / "fping"
    flood.write_text("#!/bin/sh\nexec yes 'fping: flooding' >&2\n")
    flood.chmod(0o755)
    runner = FpingRunner(fping_path=str(flood))
    spec = ProbeSpec(targets=("127.0.0.1",), count=5, period_ms=10)
    with pytest.raises(FpingError, match="more than"):
        await runner.measure(spec)
    assert probe_output_cap(spec.targets, spec.count) < 1_000_000


async def test_a_wrapper_and_the_fping_it_started_are_killed_together(tmp_path: Path) -> None:
    assert FPING is not None
    wrapper = tmp_path / "fping-wrapper"
    pid_file = tmp_path / "fping.pid"
    wrapper.write_text(
        f"#!/bin/sh\n{FPING} -C 10000 -q -p 100 -t 100 -- 127.0.0.1 &\necho $! > {pid_file}\nwait\n"
    )
    wrapper.chmod(0o755)
    with pytest.raises(RunnerTimeoutError):
        await AnyioProcessExecutor().run([str(wrapper)], deadline_s=1, max_output_bytes=1 << 20)
    pid = int(pid_file.read_text())
    gone = False
    with anyio.fail_after(5):
        while not gone:  # the group got SIGTERM; fping exits at once
            await anyio.sleep(0.02)
            gone = not _alive(pid)


async def test_missing_binary_is_fping_not_found_naming_the_package(tmp_path: Path) -> None:
    with pytest.raises(FpingNotFoundError, match="apt-get install fping"):
        await AnyioProcessExecutor().run(
            [str(tmp_path / "fping")], deadline_s=5, max_output_bytes=1 << 20
        )


async def test_cloudperf_fping_pointing_to_missing_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLOUDPERF_FPING", str(tmp_path / "no-such-fping"))
    runner = FpingRunner(fping_path=resolve_fping_path(Config.from_env().fping_path))
    with pytest.raises(FpingNotFoundError, match="CLOUDPERF_FPING"):
        await runner.measure(ProbeSpec(targets=("127.0.0.1",), count=1))


# --- the runner against loopback ----------------------------------------------------------


async def test_measure_returns_count_values_per_loopback_target() -> None:
    targets: tuple[str, ...] = ("127.0.0.1", "127.0.0.2")
    if _ipv6_loopback_works():
        targets += ("::1",)
    spec = ProbeSpec(targets=targets, count=3, period_ms=20, timeout_ms=500, interval_ms=1)
    results = await FpingRunner().measure(spec)
    assert [r.target for r in results] == list(targets)
    for result in results:
        assert result.sent == 3 and result.received == 3 and result.loss_ratio == 0.0
        assert result.rtts_us is not None and len(result.rtts_us) == 3
        assert all(rtt is not None and rtt >= 0 for rtt in result.rtts_us)


async def test_many_targets_over_batches_come_back_in_order_exactly_once() -> None:
    targets = tuple(f"127.0.{i // 200}.{i % 200 + 1}" for i in range(300))[::-1]
    progress: list[tuple[int, int]] = []
    runner = FpingRunner(max_targets_per_batch=64, max_concurrency=3)
    results = await runner.measure(
        ProbeSpec(targets=targets, count=2, period_ms=20, timeout_ms=500, interval_ms=1),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert [r.target for r in results] == list(targets)
    assert all(r.sent == 2 and r.received == 2 for r in results)
    assert len(progress) == 5 and progress[-1] == (300, 300)


async def test_unresolvable_name_alongside_loopback() -> None:
    results = await FpingRunner().measure(
        ProbeSpec(targets=("nonexistent.invalid", "127.0.0.1"), count=1, timeout_ms=500)
    )
    assert results[0].target == "nonexistent.invalid" and results[0].sent is None
    assert results[0].errors
    assert results[1].received == 1


class ShortDeadlineExecutor(AnyioProcessExecutor):
    """The real executor with every deadline cut to ``deadline_s``."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__()
        self.deadline_s = deadline_s

    async def run(
        self, argv: Sequence[str], *, deadline_s: float, max_output_bytes: int
    ) -> ProcessResult:
        return await super().run(
            argv, deadline_s=min(deadline_s, self.deadline_s), max_output_bytes=max_output_bytes
        )


async def test_runner_deadline_kills_fping_with_no_orphan() -> None:
    runner = FpingRunner(ShortDeadlineExecutor(0.3), max_targets_per_batch=1)
    spec = ProbeSpec(targets=("127.0.0.1", "127.0.0.2"), count=10_000, period_ms=100)
    with pytest.raises(RunnerTimeoutError):
        await runner.measure(spec)
    assert _fping_children() == set()


async def test_discover_finds_loopback_hosts() -> None:
    found = await FpingRunner().discover(
        DiscoverySpec(start="127.0.0.1", end="127.0.0.6", timeout_ms=200, retries=0, max_hosts=4)
    )
    assert found == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


@pytest.fixture
def unprivileged_fping() -> Iterator[str]:
    """A wrapper running a capability-less copy of fping as nobody in a private netns.

    ``ping_group_range`` is opened inside that namespace only, so fping 5.1 falls back to
    ICMP datagram sockets — the broken unprivileged mode that reports 100 % loss.
    """
    tools = [shutil.which(tool) for tool in ("unshare", "setpriv", "ip", "sysctl")]
    if os.geteuid() != 0 or None in tools:
        pytest.skip("needs root, unshare, setpriv, ip and sysctl")
    assert FPING is not None
    workdir = Path(tempfile.mkdtemp(prefix="cloudperf-nocap-"))
    try:
        workdir.chmod(0o755)
        copy = workdir / "fping"
        shutil.copyfile(FPING, copy)  # a plain copy carries no file capabilities
        copy.chmod(0o755)
        wrapper = workdir / "fping-unprivileged"
        inner = (
            'ip link set lo up && sysctl -qw net.ipv4.ping_group_range="0 2147483647" && '
            'exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" "$@"'
        )
        wrapper.write_text(f"#!/bin/sh\nexec unshare -n sh -c '{inner}' {copy} \"$@\"\n")
        wrapper.chmod(0o755)
        yield str(wrapper)
    finally:
        shutil.rmtree(workdir)


async def test_unprivileged_fping_51_is_a_permission_error_not_loss(
    unprivileged_fping: str,
) -> None:
    runner = FpingRunner(fping_path=unprivileged_fping)
    spec = ProbeSpec(targets=("127.0.0.1", "127.0.0.2"), count=2, period_ms=20, timeout_ms=300)
    with pytest.raises(ProbePermissionError, match="raw-socket permission"):
        await runner.measure(spec)
