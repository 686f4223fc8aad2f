"""The README's "system on one machine", command by command, as separate processes.

``cloudperf serve`` on the embedded default store (a SQLite file, in-process queues and
cache), the loopback sample catalogue imported, a user and two probes made with ``cloudperf
admin`` (one at each of the catalogue's two locations), two ``cloudperf probe`` agents running
beside it: the scheduler's first tick sends the discovery of 127.0.0.1-127.0.0.16's two
ranges, the next ones a latency job per source to each location in turn, the worker loop
stores the reports, and ``GET /v1/latency`` answers for both probes with every loopback
address at 0 % loss.
SIGTERM stops both processes cleanly (exit 0). Only loopback addresses are probed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import _cli_prefix
from tests.support.testhosts import TestNetwork

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_CATALOG = REPO / "samples" / "catalog" / "loopback.tsv"
ADDRESSES = [f"127.0.0.{n}" for n in range(1, 17)]
PROBES = {"lo-1": "AS64500", "lo-2": "AS64501"}  # a probe at each of the two locations
EXPECTED = {(p, a) for p in PROBES for a in ADDRESSES}
DEADLINE_S = 120.0
CHEAP_ARGON2 = {"CLOUDPERF_ARGON2_MEMORY_KIB": "1024", "CLOUDPERF_ARGON2_TIME_COST": "1"}


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [*_cli_prefix(), *args], input=stdin, capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"cloudperf {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _latency(url: str, token: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{url}/v1/latency", params={"group_by": "pair"},
        headers={"authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _pairs(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["source"], r["dest"]) for r in rows}


def test_serve_create_user_register_two_probes_run_them_and_query(
    testnet: TestNetwork, tmp_path: Path
) -> None:
    # ``testnet`` only stands for "this machine can run the e2e tests" (root, fping); no
    # namespace host is used here.
    env = dict(
        os.environ,
        CLOUDPERF_STORE=f"sqlite:///{tmp_path / 'cloudperf.db'}",
        CLOUDPERF_TICK_S="10",
        CLOUDPERF_LATENCY_COUNT="5",
        CLOUDPERF_LATENCY_PERIOD_MS="100",
        CLOUDPERF_LATENCY_TIMEOUT_MS="500",
        **CHEAP_ARGON2,
    )
    _run(env, "admin", "import", "ip2asn", str(LOOPBACK_CATALOG))
    server = subprocess.Popen(
        [*_cli_prefix(), "serve", "--port", "0"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    probes: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.fullmatch(r"cloudperf serve: listening on (http://127\.0\.0\.1:\d+)\n", line)
        if match is None:
            server.kill()
            pytest.fail(f"serve did not start: {line!r} {server.communicate()[1]}")
        url = match.group(1)
        _run(env, "admin", "create-user", "ann", "--role", "viewer", "--password-stdin",
             stdin="a long enough password")  # fmt: skip
        for name, location in PROBES.items():
            token_file = tmp_path / f"{name}.token"
            token_file.write_text(
                _run(env, "admin", "register-probe", name, "--location", location)
            )
            token_file.chmod(0o600)
            probes.append(subprocess.Popen(
                [*_cli_prefix(), "probe", "--api", url, "--token-file", str(token_file),
                 "--spool", str(tmp_path / f"{name}-spool.db"), "--poll-s", "1"],
                env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))  # fmt: skip
        login = httpx.post(
            f"{url}/v1/login", json={"username": "ann", "password": "a long enough password"}
        )
        assert login.status_code == 200, login.text
        token = login.json()["token"]

        deadline = time.monotonic() + DEADLINE_S
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = _latency(url, token)
            if _pairs(rows) == EXPECTED:
                break
            for probe in probes:
                assert probe.poll() is None, f"a probe stopped: {probe.communicate()[1]}"
            time.sleep(1)
        assert _pairs(rows) == EXPECTED, rows
        for row in rows:
            assert row["sent"] >= 5 and row["sent"] % 5 == 0, row  # whole jobs, each once
            assert row["received"] == row["sent"] and row["loss_ratio"] == 0.0, row
            assert 0 < row["p50_ms"] < 5, row
        while probes:
            assert _stop(probes.pop()) == 0
    finally:
        for probe in probes:
            probe.kill()
        code = _stop(server)
    assert code == 0, server.stderr.read() if server.stderr else ""
