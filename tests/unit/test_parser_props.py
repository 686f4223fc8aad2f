"""Property tests: generated fping output parses back to the model that generated it, and
arbitrary input never raises anything but FpingParseError (strict) / nothing (lenient)."""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks._gen import GenTarget, quantise_us, render, summary_avg_us
from cloudperf_core.errors import FpingParseError
from cloudperf_core.fping import _fast, parser
from cloudperf_core.fping.parser import parse_fping, parse_fping_output

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

labels = st.one_of(
    st.from_regex(r"10\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"fd00:[0-9a-f]{1,4}::[0-9a-f]{1,4}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}\.lab", fullmatch=True),
)
rtt = st.one_of(st.none(), st.integers(1, 2_000_000).map(quantise_us))


@st.composite
def models(draw: st.DrawFn) -> list[GenTarget]:
    count = draw(st.integers(1, 8))
    names = draw(st.lists(labels, min_size=1, max_size=12, unique=True))
    return [
        GenTarget(
            name,
            draw(st.lists(rtt, min_size=count, max_size=count)),
            icmp_errors=draw(
                st.lists(st.just("ICMP Host Unreachable from 10.0.0.254"), max_size=2)
            ),
        )
        for name in names
    ]


@pytest.fixture(params=["per-line", "fast-path"])
def fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "fast-path":
        monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)


@SETTINGS
@given(model=models(), mode=st.sampled_from(["C", "c"]), quiet=st.booleans())
def test_generated_output_round_trips(
    fast: None, model: list[GenTarget], mode: str, quiet: bool
) -> None:
    out = parse_fping_output(render(model, mode, quiet=quiet), strict=True)
    assert out.warnings == [] and out.fatal == []
    assert [t.target for t in out.targets] == [m.label for m in model]
    for got, want in zip(out.targets, model, strict=True):
        replies = [v for v in want.rtts_us if v is not None]
        assert (got.sent, got.received) == (len(want.rtts_us), len(replies))
        assert got.errors == want.icmp_errors
        if mode == "C" or not quiet:
            assert got.rtts_us == want.rtts_us
        else:
            assert got.rtts_us is None
        if mode == "c" and replies:
            assert (got.min_us, got.max_us) == (min(replies), max(replies))
            assert got.avg_us == summary_avg_us(replies)


ODD_LINES = [
    "h : 1e3 2",
    "x : 0.5555",
    "x : -0.5",
    "[12:00:00] y : 1",
    "{z : 1",
    " w : 1",
    "h :  1",
    "h : 1.000e+06 1",
    "h : 1E3 -0",
    "h : 01.5 2",
    "h : 5. 1",
    "h : .5 1",
    "h : 1\t2",
    "h : 1  2",
    "h : 2 ",
    "h : 123456789 1",
    "h : 12345678 99999.99",
    "h : 1.2.3",
    "h : - - -",
    "h :",
    "h : ",
    "\u00e9t\u00e9 : 1",
    "h : 1e999",
    "h : 0.0001 1",
    "h : 4,5",
]


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(60, 200),
    hash_bits=st.sampled_from([16, 2]),
    chunk_bytes=st.sampled_from([1 << 20, 1, 300]),
)
def test_fast_path_equals_per_line_parser_on_mixed_output(
    seed: int, n: int, hash_bits: int, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    from benchmarks._gen import random_targets

    # hash_bits=2 forces hash collisions: values must still come out exact. Small chunks
    # put chunk boundaries everywhere (1: every line is a chunk).
    monkeypatch.setattr(_fast, "_HASH_BITS", hash_bits)
    monkeypatch.setattr(_fast, "CHUNK_BYTES", chunk_bytes)
    lines = render(random_targets(rng, n, 5, dup_rate=0.2), "C").splitlines()
    # Sprinkle lines the fast path must leave alone (or parse exactly), at random places.
    for _ in range(rng.randint(0, 8)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(ODD_LINES))
    text = "\n".join(lines) + "\n"
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 10**9)
    slow = parse_fping_output(text)
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)
    assert parse_fping_output(text) == slow


BLOCKS = {
    "no final newline": "a : 1.5 -\nb : 0.25 2",
    "crlf": "a : 1.5 -\r\nb : 0.25 2\r\n",
    "empty rows": "a :\nb : 1\nc :",
    "padded labels": "a          : 1 2\nlonger.name : 3 -\nfd00::1     : - 4\n",
    "ipv6 labels": "fd00:200:1::ff : 0.047 1.2\n::1 : 12.5 -\nfe80::1%eth0 : 100 1000\n",
    "unicode label": "a : 1\n\u00e9t\u00e9 : 1 2\nb : 3\n",
    "unicode value": "a : 1\nb : \u0661 2\nc : 3\n",
    "name (addr) label": "host (10.0.0.1) : 1 2\nb : 3 4\n",
    "blank and indented lines": "a : 1\n\n   \n  b : 2\nc : 3\n",
    "tab in label": "a\tx : 1\na\t : 2\nb : 3\n",
    "duplicate labels": "a : 1\nb : 2\na : 3\n",
    "labels that are numbers": "12 : 1 2\n- : 3\n0.5 : - -\n",
    "control byte": "a : 1\x002\nb\x1f : 2\nc : 3\n",
    "colon tokens": "a :: 1\na : : 1\n: 1\n :\nb : 3\n",
    "-D and json": "[1700000000.123] a : 1\n{a : 1}\nb : 2\n",
    "only one line": "a : 1 2 3",
    "long rows": "a : " + " ".join(["1.5"] * 300) + "\nb : 2\n",
}


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 1, 9])
@pytest.mark.parametrize("text", BLOCKS.values(), ids=BLOCKS.keys())
def test_crafted_blocks_parse_the_same_on_both_paths(
    text: str, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fast, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 10**9)
    slow = parse_fping_output(text)
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)
    assert parse_fping_output(text) == slow
    assert parse_fping_output(text.encode()) == slow


def test_fast_path_takes_rows_and_leaves_other_lines() -> None:
    text = "ICMP Host Unreachable from 10.0.0.9 for ICMP Echo sent to b\na   : 1 -\nb\t: 2\nc : 3\n"
    got = _fast.parse_crow_text(text, 1)
    assert got is not None
    lines, runs = got
    assert [lines[i] for i in range(len(lines))] == text.split("\n")[:-1]
    assert [(start, end, labels) for start, end, labels, _ in runs] == [
        (1, 2, ["a"]),
        (3, 4, ["c"]),
    ]
    assert [[r.rtts_us for r in results] for *_, results in runs] == [[[1000, None]], [[3000]]]


@pytest.mark.parametrize("line", ODD_LINES)
def test_every_odd_line_alone_parses_the_same_on_both_paths(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f"a : 1.5 -\n{line}\nb : - 0.25\n"
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 10**9)
    slow = parse_fping_output(text)
    monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)
    assert parse_fping_output(text) == slow


fping_ish = st.lists(
    st.one_of(
        st.text(alphabet='0123456789.-e+ :[]{}()"x,%/=\n\t', max_size=40),
        st.sampled_from(
            [" : ", " :", "xmt/rcv/%loss = ", "[0], 64 bytes, ", " ms (", '{"resp": {', "-"]
        ),
        st.text(max_size=20),
    ),
    max_size=30,
).map("".join)


@SETTINGS
@given(data=st.one_of(fping_ish, st.binary(max_size=200)))
def test_arbitrary_input_strict_raises_only_parse_error_lenient_never(
    fast: None, data: str | bytes
) -> None:
    try:
        parse_fping_output(data, strict=True)
    except FpingParseError as exc:
        assert exc.line_no >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parse_fping(data)


@SETTINGS
@given(
    pool=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=40, unique=True),
    picks=st.lists(st.integers(0, 39), min_size=1, max_size=300),
    hash_bits=st.sampled_from([1, 3, 18]),
)
def test_dedupe_codes_are_equal_exactly_for_equal_words(
    pool: list[int], picks: list[int], hash_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    monkeypatch.setattr(_fast, "_HASH_BITS", hash_bits)
    words = np.array([pool[i % len(pool)] for i in picks], dtype=np.uint64)
    code, reps = _fast._dedupe(words)
    assert len(reps) == len(set(words.tolist()))  # one code per distinct word
    assert (words[reps][code] == words).all()  # each token's code names a token equal to it
