"""Every real fping capture parses to its expected.json.

Two corpora: the shared one beside the repository (``../shared/corpus/fping``, fping 5.1 and
5.3 against impaired hosts) and our own captures from the test hosts (``tests/corpus``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudperf_core.fping import parser
from cloudperf_core.fping.parser import parse_fping_output

REPO = Path(__file__).resolve().parents[2]
SHARED_CORPUS = REPO.parent / "shared" / "corpus" / "fping"
OWN_CORPUS = REPO / "tests" / "corpus"
CASES = sorted(SHARED_CORPUS.glob("*.out")) + sorted(OWN_CORPUS.glob("*.out"))


@pytest.fixture(params=["per-line", "fast-path"])
def path_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fast-path":
        monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)
    return str(request.param)


@pytest.mark.parametrize("out_file", CASES, ids=[p.stem for p in CASES])
def test_corpus_file_parses_to_expected(out_file: Path, path_mode: str) -> None:
    expected = json.loads(out_file.with_suffix(".expected.json").read_text())
    parsed = parse_fping_output(out_file.read_bytes(), strict=True)

    assert [w.line for w in parsed.warnings] == expected["unparsed"]
    assert parsed.fatal == []
    assert [t.target for t in parsed.targets] == [t["target"] for t in expected["targets"]]
    for got, want in zip(parsed.targets, expected["targets"], strict=True):
        assert got.sent == want["sent"], got
        assert got.received == want["received"], got
        if want["loss_ratio"] is None:
            assert got.loss_ratio is None
        else:
            assert got.loss_ratio == pytest.approx(want["loss_ratio"], abs=1e-4)
        if want["rtts_ms"] is None:
            assert got.rtts_us is None
        else:
            assert got.rtts_us is not None
            assert len(got.rtts_us) == len(want["rtts_ms"])
            for us, ms in zip(got.rtts_us, want["rtts_ms"], strict=True):
                assert (us is None) == (ms is None)
                if us is not None:
                    assert us / 1000 == pytest.approx(ms, abs=1e-9)
        for key in ("min", "avg", "max"):
            value_us = getattr(got, f"{key}_us")
            if f"{key}_ms" in want:
                assert value_us is not None
                assert value_us / 1000 == pytest.approx(want[f"{key}_ms"], abs=1e-9)
            else:
                assert value_us is None
        assert got.duplicates == want["duplicates"]
        assert got.errors == want["errors"]
