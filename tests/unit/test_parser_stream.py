"""FpingStreamParser: blocks of lines give what one parse of the whole text gives, and targets
leave the parser as soon as they are complete (so memory does not grow with the input)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks._gen import GenTarget, render
from cloudperf_core.errors import FpingParseError
from cloudperf_core.fping import parser
from cloudperf_core.fping.parser import FpingStreamParser, parse_fping_output
from cloudperf_core.models import TargetResult
from tests.unit.test_parser_props import models

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(params=["per-line", "fast-path"])
def fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "fast-path":
        monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)


def stream(blocks: list[str], **kw: object) -> tuple[list[TargetResult], FpingStreamParser]:
    p = FpingStreamParser(**kw)  # type: ignore[arg-type]
    got: list[TargetResult] = []
    for block in blocks:
        got += p.feed(block)
    return got + p.close(), p


def split_at(text: str, cuts: list[int]) -> list[str]:
    lines = text.splitlines(keepends=True)
    bounds = sorted({min(c, len(lines)) for c in cuts} | {0, len(lines)})
    return ["".join(lines[a:b]) for a, b in pairwise(bounds)]


@SETTINGS
@given(
    model=models(),
    mode=st.sampled_from(["C", "c"]),
    quiet=st.booleans(),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_blocks_parse_like_the_whole_text(
    fast: None, model: list[GenTarget], mode: str, quiet: bool, cuts: list[int]
) -> None:
    for t in model[::3]:
        t.duplicates = 1
    text = render(model, mode, quiet=quiet)
    whole = parse_fping_output(text)
    got, p = stream(split_at(text, cuts))
    assert got == whole.targets
    assert p.warnings == whole.warnings


def test_complete_targets_leave_with_their_block() -> None:
    p = FpingStreamParser()
    first = p.feed("a : 0.10 0.20\nb : - 0.30\n")
    assert [(t.target, t.rtts_us) for t in first] == [("a", [100, 200]), ("b", [None, 300])]
    # A target fping has only mentioned so far (a duplicate) waits for its row.
    [d] = p.feed("c : duplicate for [0], 64 bytes, 0.1 ms\nd : 0.5\n")
    assert d.target == "d"
    [c] = p.feed("c : 0.1\n")
    assert (c.target, c.duplicates, c.rtts_us) == ("c", 1, [100])
    assert p.close() == []


def test_an_incomplete_target_holds_back_the_ones_after_it() -> None:
    # -Q interval rows anchor a target before its counts are known: order is kept.
    p = FpingStreamParser()
    assert p.feed("[10:00:01]\na : xmt/rcv/%loss = 2/2/0%\nb : xmt/rcv/%loss = 2/2/0%\n") == []
    done = p.feed("a : xmt/rcv/%loss = 4/4/0%\nb : xmt/rcv/%loss = 4/3/25%\n")
    assert [(t.target, t.sent, t.received) for t in done] == [("a", 4, 4), ("b", 4, 3)]


def test_a_line_about_a_target_already_handed_out_is_a_warning_naming_it() -> None:
    got, p = stream(["a : 0.10\nb : 0.20\n", "a : duplicate for [0], 64 bytes, 0.1 ms\n"])
    assert [(t.target, t.duplicates) for t in got] == [("a", 0), ("b", 0)]
    [warning] = p.warnings
    assert (warning.line_no, warning.reason) == (3, parser.LATE)
    with pytest.raises(FpingParseError, match="line 3"):
        stream(["a : 0.10\nb : 0.20\n", "a : duplicate for [0], 64 bytes, 0.1 ms\n"], strict=True)


def test_a_row_again_in_a_later_block_is_another_target_like_in_one_block() -> None:
    text = "a : 0.10\na : 0.20\n"
    got, _ = stream(["a : 0.10\n", "a : 0.20\n"])
    assert got == parse_fping_output(text).targets
    assert [t.rtts_us for t in got] == [[100], [200]]
