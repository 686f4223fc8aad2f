"""`--store mysql://...` works for the CLI as sqlite does: migrate, measure, report, ingest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio

from tests.contract.makers.aurora import temp_database

CLI = [sys.executable, "-m", "cloudperf_core.cli.main"]


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    )


async def test_cli_round_trip_on_mysql(tmp_path: Path) -> None:
    async with temp_database(migrate=False) as (url, _):
        unmigrated = await cli("report", "--store", url)
        assert unmigrated.returncode == 1 and "cloudperf db migrate" in unmigrated.stderr

        first = await cli("db", "migrate", "--store", url)
        assert first.returncode == 0, first.stderr
        assert "applied migrations" in first.stdout
        again = await cli("db", "migrate", "--store", url)
        assert "up to date" in again.stdout

        report_file = tmp_path / "r.json"
        measured = await cli(
            "measure", "127.0.0.1", "--count", "4", "--period-ms", "20", "--store", url,
            "--report-out", str(report_file), "--json",
        )  # fmt: skip
        assert measured.returncode == 0, measured.stderr
        [row] = json.loads(measured.stdout)
        assert (row["sent"], row["received"]) == (4, 4)

        dup = await cli("ingest", str(report_file), "--store", url)
        assert dup.returncode == 0 and "already ingested" in dup.stdout

        reported = await cli("report", "--store", url, "--json")
        assert reported.returncode == 0, reported.stderr
        [stored] = json.loads(reported.stdout)
        assert (stored["target"], stored["sent"], stored["received"]) == ("127.0.0.1", 4, 4)
        assert stored["min_ms"] <= stored["p50_ms"] <= stored["max_ms"]


async def test_cli_hides_the_password_of_an_unreachable_server() -> None:
    res = await cli("report", "--store", "mysql://u:s3cret@127.0.0.1:1/db?connect_timeout_s=1")
    assert res.returncode == 1
    assert "s3cret" not in res.stderr and "Traceback" not in res.stderr
