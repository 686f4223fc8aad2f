"""`cloudperf probe` refuses what it cannot work with in one line, before any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudperf_core.cli.main import main

TOKEN = "cpp_p1_" + "A" * 43


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["probe", *args])
    return code, capsys.readouterr().err


def test_a_file_without_a_probe_token_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("cps_not-a-probe-token\n")
    code, err = _run(capsys, "--api", "https://api.example.net", "--token-file", str(token))
    assert code == 1 and err.count("\n") == 1
    assert "does not hold a probe token" in err and "cps_" not in err  # never echoed


def test_a_missing_token_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "--api", "https://x.example", "--token-file", str(tmp_path / "nope"))
    assert code == 1 and err.count("\n") == 1 and "cannot read the token file" in err


def test_plain_http_to_another_host_is_refused_and_a_shared_token_file_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    code, err = _run(
        capsys,
        "--api",
        "http://api.example.net",
        "--token-file",
        str(token),
        "--spool",
        str(tmp_path / "s.db"),
    )
    assert code == 1
    assert "readable by other users" in err and "unencrypted" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    "args",
    [["--max-jobs", "0"], ["--heartbeat-s", "nan"], ["--poll-s", "-1"], ["--max-body-bytes", "10"]],
)
def test_out_of_range_options_are_usage_errors(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["probe", "--api", "https://x.example", "--token-file", str(tmp_path / "t"), *args])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
