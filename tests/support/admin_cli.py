"""``cloudperf admin ...`` run as an operator runs it (a subprocess), for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

#: argon2 at its cheapest: user creation and login cost milliseconds in tests.
CHEAP_ARGON2 = {"CLOUDPERF_ARGON2_TIME_COST": "1", "CLOUDPERF_ARGON2_MEMORY_KIB": "64",
                "CLOUDPERF_ARGON2_PARALLELISM": "1"}  # fmt: skip


def cli_prefix() -> list[str]:
    """The ``cloudperf`` command (the installed script, else ``python -m``)."""
    script = shutil.which("cloudperf")
    return [script] if script else [sys.executable, "-m", "cloudperf_core.cli.main"]


def admin(store: str, *args: str, stdin: str | None = None) -> str:
    """``cloudperf admin ARGS... --store STORE``; its stdout (asserts it succeeded)."""
    proc = subprocess.run(
        [*cli_prefix(), "admin", *args, "--store", store],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, **CHEAP_ARGON2),
    )  # fmt: skip
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout
