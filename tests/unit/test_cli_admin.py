"""``cloudperf admin`` as a user runs it (in-process, on a SQLite file): tokens on stdout and
nothing else there, passwords from stdin only, probe and pause state, import with its
summary and warnings, export as CSV and JSON lines."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from cloudperf_core.auth import PasswordHasher, probe_id_of, token_matches
from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.cli.main import main
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.service import ingest_reports
from tests.unit.test_importers import CITIES, IP2ASN

FRA = "AS64510 DE Frankfurt am Main, Hesse"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    monkeypatch.setenv("CLOUDPERF_STORE", url)
    # argon2 at its cheapest: the test checks behaviour, not the cost.
    for name, value in [("TIME_COST", "1"), ("MEMORY_KIB", "64"), ("PARALLELISM", "1")]:
        monkeypatch.setenv(f"CLOUDPERF_ARGON2_{name}", value)
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        rc = main(list(args))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def catalog_call(url: str, method: str, *args: Any) -> Any:
    async def go() -> Any:
        async with Services(Config(store=url)) as services:
            return await getattr(await services.catalog(), method)(*args)

    return anyio.run(go)


def test_register_rotate_disable_enable_a_probe(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "admin", "import", "ip2asn", str(IP2ASN))[0] == 0
    assert run(capsys, "admin", "import", "cities", str(CITIES))[0] == 0

    rc, out, err = run(capsys, "admin", "register-probe", "fra-1", "--location", FRA)

    assert rc == 0 and out.count("\n") == 1  # the token and nothing else on stdout
    token = out.strip()
    assert probe_id_of(token) == "fra-1" and "shown" not in out and "once" in err
    probe = catalog_call(store, "get_probe", "fra-1")
    assert token_matches(token, probe.token_hash) and probe.location == FRA
    assert token not in err

    rc, out, _ = run(capsys, "admin", "rotate-token", "fra-1")
    new = out.strip()
    probe = catalog_call(store, "get_probe", "fra-1")
    assert rc == 0 and new != token and token_matches(new, probe.token_hash)
    assert not token_matches(token, probe.token_hash)

    assert run(capsys, "admin", "disable-probe", "fra-1")[1] == "probe fra-1 disabled\n"
    assert catalog_call(store, "get_probe", "fra-1").enabled is False
    assert run(capsys, "admin", "enable-probe", "fra-1")[0] == 0
    assert catalog_call(store, "get_probe", "fra-1").enabled is True

    rc, out, err = run(capsys, "admin", "register-probe", "fra-1", "--location", FRA)
    assert rc == 1 and out == "" and "exists" in err
    rc, out, err = run(capsys, "admin", "register-probe", "x-2", "--location", "Atlantis")
    assert rc == 1 and out == "" and "no location named 'Atlantis'" in err


def test_create_user_reads_the_password_from_stdin_only(
    store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, out, err = run(capsys, "admin", "create-user", "ann", "--role", "admin")
    assert rc == 2 and "--password-stdin" in err and out == ""
    assert catalog_call(store, "get_user", "ann") is None

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    rc, out, _ = run(capsys, "admin", "create-user", "ann", "--role", "operator",
                     "--password-stdin")  # fmt: skip

    assert rc == 0 and out == "created user ann (operator)\n"
    user = catalog_call(store, "get_user", "ann")
    hasher = PasswordHasher()
    assert anyio.run(hasher.verify, user.password_hash, "correct horse battery")
    assert not anyio.run(hasher.verify, user.password_hash, "correct horse battery\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    rc, _, err = run(capsys, "admin", "create-user", "bob", "--role", "viewer", "--password-stdin")
    assert rc == 1 and "10 to 1024 characters" in err


def test_pause_and_resume(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "admin", "pause")[1] == "paused: no new jobs\n"
    assert catalog_call(store, "get_settings").paused is True
    assert run(capsys, "admin", "resume")[0] == 0
    assert catalog_call(store, "get_settings").paused is False


def test_import_reports_skipped_lines_and_counts(
    store: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "partly.tsv"
    path.write_text(IP2ASN.read_text() + "10.232.0.0\t10.232.0.9\tnope\tDE\tx\n" + "a\tb\n" * 25)
    rc, out, err = run(capsys, "admin", "import", "ip2asn", str(path))
    assert rc == 0
    assert out == (
        "imported ip2asn: 36 lines, 9 records, 9 ranges and 6 locations written, "
        "26 lines skipped, 1 not routed; 0 stored windows tagged\n"
    )
    warnings = err.splitlines()
    assert warnings[0] == f"cloudperf: warning: {path} line 11: not an AS number: 'nope'"
    assert len(warnings) == 21 and warnings[-1].endswith("6 more lines skipped")

    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    rc, out, err = run(capsys, "admin", "import", "cities", str(junk))
    assert rc == 1 and out == "" and len(err.splitlines()) == 1 and "no usable" in err


def test_export_writes_csv_and_json_lines_per_window(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now_ms = anyio.run(_now_ms)
    reports = [
        MeasurementReport(
            report_id=f"r{i}", source=probe, started_at_ms=now_ms - 600_000 + i * 60_000,
            spec=ProbeSpec(targets=("10.231.1.1", "10.231.200.2"), count=2),
            results=[
                TargetResult(target="10.231.1.1", sent=2, received=2, rtts_us=[1000, 3000]),
                TargetResult(target="10.231.200.2", sent=2, received=1, rtts_us=[5000, None]),
            ],
        )
        for i, probe in enumerate(["fra-1", "fra-1", "syd-1"])
    ]  # fmt: skip

    async def seed() -> None:
        async with Services(Config(store=store)) as services:
            await ingest_reports(await services.store(), reports)

    anyio.run(seed)
    # Stored before the catalogue knew the addresses: the import tags them.
    assert "6 stored windows tagged" in run(capsys, "admin", "import", "ip2asn", str(IP2ASN))[1]

    rc, out, _ = run(capsys, "admin", "export", "--since", "1h")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and len(rows) == 3 * 2  # 3 windows x 2 targets (one probe each window)
    first = rows[0]
    assert (first["source"], first["dest"], first["sent"], first["received"]) == (
        "fra-1", "10.231.1.1", "2", "2",
    )  # fmt: skip
    assert float(first["min_ms"]) == 1.0 and float(first["max_ms"]) == 3.0
    lossy = [r for r in rows if r["dest"] == "10.231.200.2"]
    assert {r["loss_ratio"] for r in lossy} == {"0.5"}

    rc, out, _ = run(capsys, "admin", "export", "--since", "1h", "--format", "jsonl",
                     "--group-by", "none:asn")  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and len(lines) == 3 * 2
    assert {(r["dest"], r["received"]) for r in lines} == {("AS64510", 2), ("AS64511", 1)}
    rc, out, err = run(capsys, "admin", "export", "--since", "1h", "--until", "2h")
    assert rc == 1 and "ends before it starts" in err


async def _now_ms() -> int:
    from cloudperf_core.clock import SystemClock

    return SystemClock().now_ms()
