"""The `cloudperf` command as a user runs it: real fping on loopback, real SQLite files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "fping"
CLI = [sys.executable, "-m", "cloudperf_core.cli.main"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_measure_loopback_stores_and_reports(store_url: str, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    res = run(
        "measure", "127.0.0.1", "--count", "5", "--period-ms", "20", "--store", store_url,
        "--json", "--report-out", str(report_file),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert row["target"] == "127.0.0.1"
    assert (row["sent"], row["received"], row["loss_ratio"]) == (5, 5, 0.0)
    assert len(row["rtts_ms"]) == 5 and all(v is not None and v >= 0 for v in row["rtts_ms"])
    assert row["min_ms"] <= row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]

    rep = run("report", "--store", store_url, "--json")
    assert rep.returncode == 0, rep.stderr
    [stored] = json.loads(rep.stdout)
    assert (stored["target"], stored["sent"], stored["received"]) == ("127.0.0.1", 5, 5)

    # Ingesting the saved report again changes nothing.
    again = run("ingest", str(report_file), "--store", store_url)
    assert again.returncode == 0, again.stderr
    assert "already ingested" in again.stdout
    [same] = json.loads(run("report", "--store", store_url, "--json").stdout)
    assert same["sent"] == 5


def test_measure_prints_a_table_by_default(store_url: str) -> None:
    res = run("measure", "127.0.0.1", "--count", "3", "--period-ms", "20", "--store", store_url)
    assert res.returncode == 0, res.stderr
    header, row = res.stdout.splitlines()[:2]
    for column in ("target", "sent", "recv", "loss%", "min", "p50", "p90", "p95", "max"):
        assert column in header.split()
    assert row.split()[:4] == ["127.0.0.1", "3", "3", "0.0"]


@pytest.mark.parametrize(
    "args",
    [
        ["measure", "127.0.0.1;reboot", "--no-store"],
        ["measure", "-f/etc/passwd", "--no-store"],
        ["measure", "127.0.0.1", "--store", "bogus://nowhere"],
        ["report", "--store", "sqlite:///proc/no/such/dir/x.db"],
        ["ingest", "/no/such/report.json", "--store", "memory://"],
    ],
)
def test_user_errors_get_one_clear_line_and_nonzero_exit(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") <= 2, res.stderr
    assert "error" in res.stderr


def test_ingest_rejects_a_bad_report_with_the_reason(tmp_path: Path, store_url: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"report_id": "x", "source": "s"}')
    res = run("ingest", str(bad), "--store", store_url)
    assert res.returncode == 1
    assert "malformed report" in res.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not beside the repository")
def test_parse_json_matches_the_corpus() -> None:
    expected = json.loads((CORPUS / "51_vcount_C3_q.expected.json").read_text())
    res = run("parse", str(CORPUS / "51_vcount_C3_q.out"), "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert [g["target"] for g in got] == [t["target"] for t in expected["targets"]]
    for g, e in zip(got, expected["targets"], strict=True):
        assert (g["sent"], g["received"]) == (e["sent"], e["received"])
        assert g["loss_ratio"] == pytest.approx(e["loss_ratio"], abs=1e-4)
        assert g["rtts_ms"] == pytest.approx(e["rtts_ms"])


def test_parse_strict_names_the_bad_line() -> None:
    res = run("parse", "-", "--strict", stdin=b"10.0.0.1 : 0.1 0.2\nthis is not fping\n")
    assert res.returncode == 1
    assert "line 2" in res.stderr and "this is not fping" in res.stderr


def test_parse_lenient_warns_but_keeps_going() -> None:
    res = run("parse", "-", "--json", stdin=b"10.0.0.1 : 0.1 - 0.3\nthis is not fping\n")
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert (row["sent"], row["received"]) == (3, 2)
    assert "line 2" in res.stderr
