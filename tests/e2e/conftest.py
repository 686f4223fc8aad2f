"""End-to-end fixtures: namespace test hosts and the ``cloudperf`` CLI run as a user runs it.

Every test under ``tests/e2e`` is marked ``e2e`` (by ``tests/conftest.py``). The tests are
skipped (with the reason) only where test namespaces cannot exist: not root, or no
``ip netns``. Set ``CLOUDPERF_REQUIRE_E2E=1`` to turn that skip into a failure (CI, where they
must run).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudperf_core.bootstrap import Config
from tests.support.admin_cli import cli_prefix
from tests.support.testhosts import TestNetwork, unavailable_reason

_CLI_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def testnet() -> Iterator[TestNetwork]:
    """One namespace for the whole session; tests add the hosts they need with ``add_host``."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CLOUDPERF_REQUIRE_E2E"):
            pytest.fail(f"e2e tests required but impossible here: {reason}")
        pytest.skip(reason)
    if shutil.which("fping") is None and not Config.from_env().fping_path:
        pytest.fail("fping is not installed (Debian package `fping`)")
    # SIGTERM (e.g. a CI timeout) would skip finalizers and atexit; turn it into SystemExit so
    # the namespace is deleted. SIGKILL leftovers are swept by the next run (cleanup_stale).
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with TestNetwork(seed=20240611) as net:
            yield net
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@dataclass
class CliResult:
    """Exit code and output of one ``cloudperf`` invocation."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON (fails the test with the output if it is not JSON)."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{self.argv} printed no JSON ({exc}):\n{self.stdout}\n{self.stderr}")


CliRunner = Callable[..., CliResult]


_cli_prefix = cli_prefix


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store for one test."""
    return f"sqlite:///{tmp_path / 'cloudperf.db'}"


@pytest.fixture
def cloudperf(tmp_path: Path) -> CliRunner:
    """Run ``cloudperf ARGS...`` in a subprocess; fail the test on an unexpected exit code.

    ``cloudperf("measure", addr, "--json", expect_rc=0)``; ``expect_rc=None`` accepts any code.
    ``CLOUDPERF_STORE`` points at a per-test SQLite file so nothing touches the user's store.
    """
    env = dict(os.environ, CLOUDPERF_STORE=f"sqlite:///{tmp_path / 'default.db'}")

    def run(*args: str, expect_rc: int | None = 0) -> CliResult:
        argv = [*_cli_prefix(), *args]
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=_CLI_TIMEOUT_S, check=False
        )
        result = CliResult(argv, proc.returncode, proc.stdout, proc.stderr)
        if expect_rc is not None and proc.returncode != expect_rc:
            pytest.fail(
                f"{' '.join(argv)} exited {proc.returncode} (expected {expect_rc})\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return result

    return run


@pytest.fixture
def measure(cloudperf: CliRunner, store_url: str) -> Callable[..., dict[str, dict[str, Any]]]:
    """``measure(addr, ..., count=, period_ms=, timeout_ms=)`` -> {target: row} from ``--json``."""

    def run(*targets: str, count: int, period_ms: int, timeout_ms: int, **extra: Any) -> Any:
        args = ["measure", *targets, "--count", str(count), "--period-ms", str(period_ms)]
        args += ["--timeout-ms", str(timeout_ms), "--store", extra.pop("store", store_url)]
        args += [*extra.pop("args", ()), "--json"]
        rows = cloudperf(*args, expect_rc=extra.pop("expect_rc", 0)).json()
        assert isinstance(rows, list)
        assert [r["target"] for r in rows] == list(targets), "one row per target, in order"
        return {r["target"]: r for r in rows}

    return run
