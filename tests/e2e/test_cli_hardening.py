"""The `cloudperf` command when things go wrong: signals, impossible RTTs from fping, a
``--report-out`` that fails after measuring, IPv6 discovery of low addresses, and hostile
arguments in a real subprocess. Probes go to loopback only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "cloudperf_core.cli.main"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _fping_children(parent: int) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name == "fping" and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            pids.add(int(entry.name))
    return pids


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_fping_at_once_and_stores_nothing(
    tmp_path: Path, signum: int, exit_code: int
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    argv = [*CLI, "measure", "127.0.0.1", "--count", "10000", "--period-ms", "10"]
    proc = subprocess.Popen(
        [*argv, "--store", store], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        children: set[int] = set()
        for _ in range(600):  # fping starts within a second or two; 10000 probes take 100 s
            children = _fping_children(proc.pid)
            if children:
                break
            time.sleep(0.05)
        assert children, "fping never started"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == exit_code
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"interrupted by {signal.Signals(signum).name}" in err
    assert "nothing was stored" in err
    assert not any(_alive(pid) for pid in children), "fping outlived cloudperf"
    assert json.loads(run("report", "--store", store, "--json").stdout) == []


@pytest.fixture
def fake_fping(tmp_path: Path) -> Path:
    """An fping stand-in printing one -C row per target: one good RTT, one negative."""
    script = tmp_path / "fping"
    script.write_text(
        "#!/bin/sh\n"
        'seen=0; for a; do [ "$seen" = 1 ] && echo "$a : 0.050 -0.012" >&2; '
        '[ "$a" = "--" ] && seen=1; done; exit 0\n'
    )
    script.chmod(0o755)
    return script


def test_a_negative_rtt_loses_one_probe_not_the_measurement(
    tmp_path: Path, fake_fping: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = dict(os.environ, CLOUDPERF_FPING=str(fake_fping))
    res = run(
        "measure", "127.0.0.1", "127.0.0.2", "--count", "2", "--store", store, "--json", env=env
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["sent"], r["received"], r["rtts_ms"]) for r in rows] == [(2, 1, [0.05, None])] * 2
    assert "impossible RTT" in res.stderr and "-0.012" in res.stderr
    stored = json.loads(run("report", "--store", store, "--json").stdout)
    assert sorted((r["target"], r["sent"], r["received"]) for r in stored) == [
        ("127.0.0.1", 2, 1),
        ("127.0.0.2", 2, 1),
    ]


def test_a_report_out_failing_after_measuring_keeps_the_report_safe(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    # /dev/full accepts the open and fails the write (ENOSPC): like a disk filling up.
    res = run(
        "measure", "127.0.0.1", "--count", "2", "--period-ms", "20", "--store", store,
        "--json", "--report-out", "/dev/full", env=env,
    )  # fmt: skip
    assert res.returncode == 1
    [row] = json.loads(res.stdout)
    assert row["sent"] == 2, "the results are printed anyway"
    [line] = res.stderr.splitlines()
    assert "cannot write /dev/full" in line
    [saved] = (tmp_path / "data" / "cloudperf" / "reports").iterdir()
    assert str(saved) in line
    # Stored first; the saved copy is the same report (ingesting it changes nothing).
    again = run("ingest", str(saved), "--store", store)
    assert again.returncode == 0 and "already ingested" in again.stdout


def test_discover_of_an_ipv6_host_route_probes_ipv6() -> None:
    probe = subprocess.run(["fping", "-c", "1", "-t", "500", "-q", "::1"], check=False)
    if probe.returncode != 0:
        pytest.skip("IPv6 loopback does not answer here")
    res = run("discover", "::1/128", "--json", "--timeout-ms", "300")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["::1"]


@pytest.mark.parametrize(
    "args",
    [
        ["measure", "127.0.0.1", "--timeout-ms", "9223372036854", "--no-store"],
        ["measure", "\x1b]0;owned\x07", "--no-store"],
        ["parse", "/no/such/file"],
        ["report", "--since", "99999999999999999999w"],
        ["ingest", "/no/such/report.json"],
        ["discover", "::1/129"],
        ["db", "migrate", "--store", "bogus://nowhere"],
    ],
)
def test_hostile_arguments_in_a_real_process_get_one_line(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode not in (0, None)
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr and "\x1b" not in res.stderr


def test_parse_of_an_empty_file_prints_an_empty_result(tmp_path: Path) -> None:
    empty = tmp_path / "empty.out"
    empty.write_bytes(b"")
    table = run("parse", str(empty))
    assert table.returncode == 0 and table.stderr == ""
    header = "target sent recv loss% min p50 p90 p95 max stddev jitter dup"
    assert table.stdout.split() == header.split()
    assert json.loads(run("parse", str(empty), "--json").stdout) == []


def test_names_cannot_drive_the_terminal_or_forge_rows(tmp_path: Path) -> None:
    out = tmp_path / "evil.out"
    out.write_text("\x1b]0;owned\x07 : 0.10\nreal : 0.20\n")
    res = run("parse", str(out))
    assert res.returncode == 0
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert len(res.stdout.splitlines()) == 3  # header and two rows, no forged one
    assert res.stdout.splitlines()[1].startswith("\\x1b]0;owned\\x07")
