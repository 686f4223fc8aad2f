"""Every subcommand with hostile arguments: a non-zero exit and exactly one line on stderr,
never a traceback, never a raw control character (run in-process; the subprocess twin of a
representative set is in tests/e2e/test_cli_hardening.py).

None of these reaches fping: every case fails before probing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudperf_core.cli.main import main

ESC = "\x1b]0;owned\x07"


def _hostile(tmp: Path) -> list[list[str]]:
    store = f"sqlite:///{tmp / 'store.db'}"
    bad_json = tmp / "bad.json"
    bad_json.write_text('{"report_id": "x", "source": "s"}')
    huge = tmp / "huge.json"
    huge.write_text(json.dumps({"report_id": "r" * 10_000}))
    binary = tmp / "binary.out"
    binary.write_bytes(bytes(range(256)) * 4)
    evil = tmp / "evil.out"
    evil.write_text(f"{ESC} : 0.1 x\n")
    return [
        # measure: numbers past what fping or the stores accept, targets, paths, names
        ["measure", "127.0.0.1", "--timeout-ms", "9223372036854"],
        ["measure", "127.0.0.1", "--count", "0"],
        ["measure", "127.0.0.1", "--count", "99999999999999999999999"],
        ["measure", "127.0.0.1", "--count", "1" * 5000],
        ["measure", "127.0.0.1", "--period-ms", "-1"],
        ["measure", "127.0.0.1", "--interval-ms", "60001"],
        ["measure", "127.0.0.1", "--size", "65489"],
        ["measure", "127.0.0.1", "--window-s", "0"],
        ["measure", "127.0.0.1", "--window-s", str(2**40)],
        ["measure", ESC, "--no-store"],
        ["measure", "127.0.0.1;reboot", "--no-store"],
        ["measure", "-f/etc/passwd", "--no-store"],
        ["measure", "127.0.0.1", "--source-address", ESC, "--no-store"],
        ["measure", "127.0.0.1", "--source", "", "--no-store"],
        ["measure", "127.0.0.1", "--source", "s" * 256, "--no-store"],
        ["measure", "127.0.0.1", "--report-out", "/proc/no/such/dir/r.json", "--no-store"],
        ["measure", "127.0.0.1", "--report-out", str(tmp), "--no-store"],
        ["measure", "127.0.0.1", "--store", f"bogus://host/{ESC}"],
        ["measure", "127.0.0.1", "--store", "sqlite:///proc/no/such/dir/x.db"],
        ["measure", "::1", "-4", "--no-store"],
        # parse
        ["parse", str(tmp / "missing.out")],
        ["parse", str(tmp)],
        ["parse", str(binary), "--strict"],
        ["parse", str(evil), "--strict", "--json"],
        # report
        ["report", "--since", "99999999999999999999w", "--store", store],
        ["report", "--since", "101y", "--store", store],
        ["report", "--since", "5300000w", "--store", store],
        ["report", "--since", "", "--store", store],
        ["report", "--group-by", ESC, "--store", store],
        ["report", "--store", "sqlite:///proc/no/such/dir/x.db"],
        # ingest
        ["ingest", str(tmp / "missing.json"), "--store", store],
        ["ingest", str(tmp), "--store", store],
        ["ingest", str(bad_json), "--store", store],
        ["ingest", str(huge), "--store", store],
        ["ingest", str(binary), "--store", store],
        ["ingest", str(bad_json), "--store", store, "--window-s", "-5"],
        # discover
        ["discover", "::1/129"],
        ["discover", "127.0.0.1-::1"],
        ["discover", "10.0.0.0/8"],
        ["discover", ESC],
        ["discover", "10.0.0.2-10.0.0.1"],
        ["discover", "127.0.0.1/32", "--max-hosts", "0"],
        ["discover", "127.0.0.1/32", "--retries", "11"],
        ["discover", "127.0.0.1/32", "--timeout-ms", "9223372036854"],
        # db
        ["db", "migrate", "--store", f"bogus://host/{ESC}"],
        ["db", "migrate", "--store", "sqlite:///proc/no/such/dir/x.db"],
        ["db", "migrate"],
        ["db"],
        # admin
        ["admin"],
        ["admin", "migrate", "--store", f"bogus://host/{ESC}"],
        ["admin", "pause", "--store", "sqlite:///proc/no/such/dir/x.db"],
        ["admin", "register-probe", ESC, "--location", "x", "--store", store],
        ["admin", "register-probe", "ok-1", "--location", ESC, "--store", store],
        ["admin", "register-probe", "UPPER", "--location", "x", "--store", store],
        ["admin", "register-probe", "p" * 64, "--location", "x", "--store", store],
        ["admin", "register-probe", "ok-1", "--store", store],
        ["admin", "rotate-token", "nobody", "--store", store],
        ["admin", "disable-probe", ESC, "--store", store],
        ["admin", "enable-probe", "", "--store", store],
        ["admin", "create-user", "ann", "--role", "admin", "--store", store],
        ["admin", "create-user", "ann", "--role", "root", "--password-stdin"],
        ["admin", "create-user", "ann", "--password-stdin"],
        ["admin", "create-user", "ann", "--role", "admin", "--password", "hunter2hunter2"],
        ["admin", "import", "asn", str(bad_json)],
        ["admin", "import", "ip2asn", str(tmp / "missing.tsv"), "--store", store],
        ["admin", "import", "ip2asn", str(tmp), "--store", store],
        ["admin", "import", "cities", str(binary), "--store", store],
        ["admin", "import", "ip2asn", str(evil), "--store", store],
        ["admin", "export", "--store", store],
        ["admin", "export", "--since", "99999999999999999999w", "--store", store],
        ["admin", "export", "--since", ESC, "--store", store],
        ["admin", "export", "--since", "1d", "--format", "xml", "--store", store],
        ["admin", "export", "--since", "1d", "--group-by", ESC, "--store", store],
        ["admin", "export", "--since", "1h", "--until", "2h", "--store", store],
        # serve (each fails before it listens)
        ["serve", "--port", "70000"],
        ["serve", "--port", ESC],
        ["serve", "--host", ESC, "--port", "0"],
        ["serve", "--host", "999.1.1.1", "--port", "0"],
        ["serve", "--store", f"bogus://host/{ESC}", "--port", "0"],
        ["serve", "--store", "sqlite:///proc/no/such/dir/x.db", "--port", "0"],
        # cost
        ["cost", "--probes", "1e400", "--targets", "1", "--interval-s", "60"],
        ["cost", "--probes", ESC, "--targets", "1", "--interval-s", "60"],
        ["cost", "--probes", "1", "--targets", "-1", "--interval-s", "60"],
        # no command, unknown command
        [],
        [ESC],
    ]


def test_every_subcommand_refuses_hostile_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDPERF_STORE", f"sqlite:///{tmp_path / 'default.db'}")
    monkeypatch.setenv("CLOUDPERF_FPING", "/bin/false")  # nothing here may reach fping
    failures = []
    for args in _hostile(tmp_path):
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse's usage errors
            rc = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        ok = (
            rc not in (0, None)
            and len(lines) == 1
            and "Traceback" not in captured.err
            and "internal error" not in captured.err
            and not any(ord(c) < 32 or c == "\x7f" for c in captured.err.rstrip("\n"))
        )
        if not ok:
            failures.append((args, rc, captured.err))
    assert not failures, "\n".join(f"{a!r}: rc={rc} stderr={e!r}" for a, rc, e in failures)
