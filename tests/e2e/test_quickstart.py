"""The README's first quick-start command, as a user runs it (real fping on loopback)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_measures_stores_and_prints_both_tables(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDPERF_STORE": f"sqlite:///{tmp_path / 'demo.db'}"}
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "127.0.0.1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    measured, _, merged = done.stdout.partition("== merged from the store")
    # One row for the target in the fresh measurement and one in the stored, merged view.
    assert measured.count("127.0.0.1 ") == 1 and merged.count("127.0.0.1 ") == 1
    assert str(tmp_path / "demo.db") in merged
    row = next(line for line in merged.splitlines() if line.startswith("127.0.0.1"))
    sent, received = row.split()[1:3]
    assert (sent, received) == ("20", "20")
