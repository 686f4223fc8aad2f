"""Crafted fping outputs: every line kind of fping-output.md, version differences, pitfalls."""

from __future__ import annotations

import warnings

import pytest

from cloudperf_core.errors import FpingParseError, FpingParseWarning
from cloudperf_core.fping import parser
from cloudperf_core.fping.parser import parse_fping, parse_fping_output
from cloudperf_core.models import TargetResult


@pytest.fixture(params=["per-line", "fast-path"], autouse=True)
def both_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every case must give the same answer whether or not the vectorised -C path runs.
    if request.param == "fast-path":
        monkeypatch.setattr(parser, "FAST_MIN_LINES", 1)


def one(text: str | bytes) -> TargetResult:
    (target,) = parse_fping(text, strict=True)
    return target


def test_c_row_with_losses_counts_from_values_not_percent() -> None:
    t = one("10.200.2.12    : - 1.42 -\n")
    assert (t.target, t.sent, t.received, t.rtts_us) == ("10.200.2.12", 3, 1, [None, 1420, None])
    assert t.loss_ratio == pytest.approx(2 / 3)


def test_c_row_all_value_formats_exact_microseconds() -> None:
    t = one("h : 0.027 1.47 35.6 151 1202 1.000e+06 0.84 351.12 0.000 10.00\n")
    assert t.rtts_us == [27, 1470, 35600, 151000, 1202000, 10**9, 840, 351120, 0, 10000]


def test_c_row_cut_short_and_empty() -> None:
    out = parse_fping("a : 0.261 0.333\nb :\n", strict=True)
    assert [(t.sent, t.received, t.rtts_us) for t in out] == [(2, 2, [261, 333]), (0, 0, [])]
    assert out[1].loss_ratio is None


def test_summary_variants() -> None:
    text = (
        "10.200.2.12 : xmt/rcv/%loss = 6/3/50%, outage(ms) = 600, min/avg/max = 1.57/1.60/1.63\n"
        "10.200.2.19    : xmt/rcv/%loss = 3/0/100%\n"
        "10.200.2.21 : xmt/rcv/%return = 4/8/200%, min/avg/max = 6.1/6.57/7.0\n"
    )
    a, b, c = parse_fping(text, strict=True)
    assert (a.sent, a.received, a.min_us, a.avg_us, a.max_us) == (6, 3, 1570, 1600, 1630)
    assert a.rtts_us is None
    assert (b.sent, b.received, b.min_us, b.loss_ratio) == (3, 0, None, 1.0)
    # RCV > XMT: duplicates counted in RCV; never more received than sent.
    assert (c.sent, c.received, c.duplicates, c.loss_ratio) == (4, 4, 4, 0.0)


def test_per_probe_lines_merge_with_summary_and_pad_v4_missing_indices() -> None:
    text = (
        "10.200.2.30 : [0], 84 bytes, 0.40 ms (0.40 avg, 0% loss)\n"
        "10.200.2.30 : [2], 84 bytes, 0.50 ms (0.45 avg, 33% loss)\n"
        "\n"
        "10.200.2.30 : xmt/rcv/%loss = 4/2/50%, min/avg/max = 0.40/0.45/0.50\n"
    )
    t = one(text)
    assert t.rtts_us == [400, None, 500, None]
    assert (t.sent, t.received) == (4, 2)


def test_timestamp_prefixes_of_every_format_and_suffixes() -> None:
    text = (
        "[1795303392.82912] h : [0], 64 bytes, 151 ms (151 avg, 0% loss)\n"
        "[1596092373.184230] h : [1], 64 bytes, 0.30 ms (75 avg, 0% loss)\n"
        "[Sat Nov  1 23:24:15 2026] h : [2], timed out (75 avg, 33% loss)\n"
        "[2026-11-21T23:24:14+0000] h : [3], 64 bytes, 1.99 ms (51 avg, 25% loss)"
        " (TOS 0) (TTL 63)\n"
        "[2026-11-21 23:24:16] h : [4], 20 bytes, 0.077 ms (38 avg, 20% loss), timestamps: "
        "Originate=1 Receive=2 Transmit=3 Localreceive=4\n"
        "h : [5], 64 bytes, 2.00 ms (1 avg, 0% loss) (SRC 10.0.0.1) (TOS unknown) (TTL unknown)\n"
    )
    t = one(text)
    assert t.rtts_us == [151000, 300, None, 1990, 77, 2000]
    assert (t.sent, t.received) == (6, 5)


def test_c_row_is_authoritative_over_per_probe_lines() -> None:
    text = "h : [0], 64 bytes, 1.00 ms (1.00 avg, 0% loss)\n\nh : 1.01 -\n"
    assert one(text).rtts_us == [1010, None]


def test_repeated_index_is_a_duplicate_never_a_reply() -> None:
    text = (
        "h : [0], 84 bytes, 1.53 ms (1.53 avg, 0% loss)\n"
        "h : [0], 84 bytes, 9.99 ms (1.53 avg, 0% loss)\n"
        "h : [1], 84 bytes, 1.48 ms (1.51 avg, 0% loss)\n"
        "\nh : xmt/rcv/%loss = 2/2/0%, min/avg/max = 1.48/1.51/1.53\n"
    )
    t = one(text)
    assert (t.rtts_us, t.received, t.duplicates) == ([1530, 1480], 2, 1)


def test_loop_mode_dups_counted_in_xmt_and_rcv_are_undone() -> None:
    lines = [f"h : [{i}], 64 bytes, 1.00 ms (1.00 avg, 0% loss)" for i in (0, 0, 1, 1, 2, 2, 3, 3)]
    text = "\n".join(lines) + "\n\nh : xmt/rcv/%loss = 8/8/0%, min/avg/max = 1/1/1\n"
    t = one(text)
    assert (t.sent, t.received, t.duplicates, len(t.rtts_us or [])) == (4, 4, 4, 4)


def test_duplicate_for_lines_with_fragments() -> None:
    text = (
        "10.200.2.21 : duplicate for [0], 64 bytes, 6.75 ms [<- 10.200.2.18]\n"
        "10.200.2.21 : duplicate for [1], 64 bytes, 11.4 ms\n"
        " [<- 10.200.2.18] [<- 10.200.2.18]\n"
        " [<- 10.200.2.18]10.200.2.21 : 6.70 11.3\n"
    )
    t = one(text)
    assert (t.duplicates, t.received, t.rtts_us) == (2, 2, [6700, 11300])


def test_icmp_errors_attributed_by_trailing_label() -> None:
    text = (
        "ICMP Host Unreachable from 10.200.2.1 for ICMP Echo sent to 10.200.2.15\n"
        "ICMP Unreachable (Communication with Host Prohibited) from 10.200.2.1 for ICMP Echo "
        "sent to 10.200.2.15\n"
        "ICMPv6 Destination Unreachable (Address unreachable) from fd00::1 for ICMPv6 Echo "
        "Request sent to fd00:200:2::30\n"
        "ICMP Time Exceeded from 10.200.2.1 for ICMP Echo sent to unreach.lab (10.200.2.1)\n"
        "10.200.2.15 : - -\nfd00:200:2::30 : -\n"
    )
    a, b, c = parse_fping(text, strict=True)
    assert a.errors == [
        "ICMP Host Unreachable from 10.200.2.1",
        "ICMP Unreachable (Communication with Host Prohibited) from 10.200.2.1",
    ]
    assert (a.sent, a.received) == (2, 0)
    assert b.errors == ["ICMPv6 Destination Unreachable (Address unreachable) from fd00::1"]
    # 3.x appends the ICMP sender to named targets; no anchor line, so it comes last.
    assert (c.target, c.errors, c.sent) == (
        "unreach.lab",
        ["ICMP Time Exceeded from 10.200.2.1"],
        None,
    )


def test_name_and_send_errors() -> None:
    text = (
        "nonexistent.invalid: Name or service not known\n"
        "::1: Address family for hostname not supported\n"
        "old.lab address not found\n"
        "10.200.1.7: error while sending ping: No route to host\n"
        "10.200.1.7 is unreachable\n"
    )
    a, b, c, d = parse_fping(text, strict=True)
    assert (a.target, a.sent, a.errors) == (
        "nonexistent.invalid",
        None,
        ["Name or service not known"],
    )
    assert (b.target, b.errors) == ("::1", ["Address family for hostname not supported"])
    assert (c.target, c.errors) == ("old.lab", ["address not found"])
    assert (d.target, d.alive, d.errors) == (
        "10.200.1.7",
        False,
        ["error while sending ping: No route to host"],
    )


def test_default_a_u_e_modes() -> None:
    out = parse_fping(
        "127.0.0.1 is alive (0.04 ms) (TTL 64)\n10.0.0.9 is unreachable\n", strict=True
    )
    assert [(t.target, t.alive, t.sent) for t in out] == [
        ("127.0.0.1", True, None),
        ("10.0.0.9", False, None),
    ]
    listed = "10.200.2.30\nfast.lab (10.200.2.30)\n10.0.0.1 (TTL 63) (0.282 ms)\n"
    assert [t.alive for t in parse_fping(listed, strict=True)] == [None, None, True]
    assert [t.alive for t in parse_fping(listed, listing="alive")] == [True, True, True]
    assert [t.target for t in parse_fping("10.200.2.19\n", listing="unreachable")] == [
        "10.200.2.19"
    ]
    assert parse_fping("10.200.2.19\n", listing="unreachable")[0].alive is False


def test_name_addr_labels_and_ipv6_padding() -> None:
    text = "fast.lab (10.200.2.30) : 0.29 0.30\nfd00:200:2::30         : - 0.25\n"
    a, b = parse_fping(text, strict=True)
    assert (a.target, b.target, b.rtts_us) == (
        "fast.lab (10.200.2.30)",
        "fd00:200:2::30",
        [None, 250],
    )


def test_same_label_twice_stays_two_targets() -> None:
    out = parse_fping("h : 1.00 1.00\nh : 2.00 -\n", strict=True)
    assert [(t.target, t.rtts_us) for t in out] == [("h", [1000, 1000]), ("h", [2000, None])]


def test_interval_blocks_final_summary_wins() -> None:
    text = (
        "[12:00:01]\n"
        "a : xmt/rcv/%loss = 1/1/0%, min/avg/max = 1.00/1.00/1.00\n"
        "b : xmt/rcv/%loss = 1/0/100%\n"
        "[12:00:02]\n"
        "a : xmt/rcv/%loss = 0/0/0%\n"
        "b : xmt/rcv/%loss = 1/1/0%, min/avg/max = 2.00/2.00/2.00\n"
        "a : xmt/rcv/%loss = 3/2/33%, min/avg/max = 1.00/1.50/2.00\n"
        "b : xmt/rcv/%loss = 3/1/66%, min/avg/max = 2.00/2.00/2.00\n"
    )
    a, b = parse_fping(text, strict=True)
    assert (a.sent, a.received, a.avg_us, b.sent, b.received) == (3, 2, 1500, 3, 1)


def test_verdicts_stats_block_netdata_are_recognised() -> None:
    text = (
        "Enough hosts reachable (required: 1, reachable: 1)\n"
        "Not enough hosts reachable (required: 2, reachable: 1)\n"
        "\n       2 targets\n       0 unknown addresses\n"
        "       2 timeouts (waiting for response)\n       4 ICMP Echos sent\n"
        " 0.334 ms (min round trip time)\n        0.611 sec (elapsed real time)\n"
        "CHART fping.h_packets '' 'FPing Packets' packets 'h' fping.packets line 110020 1\n"
        "SET xmt = 1\nEND\n"
        "h : xmt/rcv/%loss = 2/2/0%, min/avg/max = 0.334/0.339/0.344\n"
    )
    out = parse_fping_output(text, strict=True)
    assert [t.target for t in out.targets] == ["h"]
    assert out.warnings == [] and out.fatal == []


def test_fatal_and_usage_lines() -> None:
    text = (
        "/usr/bin/fping: can't create socket (must run as root?)\n"
        "fping, can't parse address 10.0.0.0/99: Name or service not known\n"
        "fping: option requires an argument -- 'c'\nsee 'fping -h' for usage information\n"
        "Usage: fping [options] [targets...]\n   -c, --count=N  count mode\n"
    )
    out = parse_fping_output(text, strict=True)
    assert out.targets == []
    assert len(out.fatal) == 6


def test_json_lines_of_fping_5_5() -> None:
    text = (
        "nonexistent.invalid: Name or service not known\n"
        '{"warning": {"host": "nonexistent.invalid", "message": "Name or service not known"}}\n'
        '{"resp": {"timestamp": "1.5", "host": "a", "seq": 0, "size": 64, "rtt": 0.359, '
        '"ttl": 63}}\n'
        '{"timeout": {"host": "a", "seq": 1}}\n'
        '{"intSum": {"time": 1,"host": "a", "xmt": 2, "rcv": 1, "loss": 50}}\n'
        '{"summary": {"host": "a", "xmt": 2, "rcv": 1, "loss": 50, "rttMin": 0.359, '
        '"rttAvg": 0.359, "rttMax": 0.359}}\n'
        '{"vSum": {"host": "b", "values": [1.000e+06, null, 35.6]}}\n'
        '{"stats": {"targets": 2}}\n{"future": {"x": 1}}\n'
    )
    out = parse_fping_output(text, strict=True)
    name, a, b = out.targets
    # The plain warning and the JSON warning are about the same failed name.
    assert (name.sent, name.errors[0]) == (None, "Name or service not known")
    assert (a.sent, a.received, a.rtts_us, a.min_us) == (2, 1, [359, None], 359)
    assert (b.sent, b.received, b.rtts_us) == (3, 2, [10**9, None, 35600])


@pytest.mark.parametrize(
    "line",
    [
        "h : 1.0x 2.0",  # malformed number in a -C row
        "h : xmt/rcv/%loss = 2/1/50%, min/avg/max = 1/abc/2",
        "h : [0], 64 bytes, 1e999 ms (1.0 avg, 0% loss)",
        '{"resp": {"host": "h", "seq": "zero", "rtt": 1}}',
        "{not json",
        "this is not fping output",
    ],
)
def test_strict_raises_with_line_number_and_lenient_warns(line: str) -> None:
    text = "a : 1.00\n" + line + "\n"
    with pytest.raises(FpingParseError) as info:
        parse_fping(text, strict=True)
    assert (info.value.line_no, info.value.line) == (2, line)
    with pytest.warns(FpingParseWarning):
        targets = parse_fping(text)
    assert targets[0].rtts_us == [1000]
    out = parse_fping_output(text)
    assert [(w.line_no, w.line) for w in out.warnings] == [(2, line)]


def test_malformed_sample_is_never_silently_dropped() -> None:
    out = parse_fping_output("h : 1.00 1..2 3.00\n")
    assert out.targets == [] and len(out.warnings) == 1


def test_bytes_crlf_and_non_utf8_input() -> None:
    t = one(b"h : 1.00 -\r\n")
    assert t.rtts_us == [1000, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert parse_fping(b"\xff\xfe : 1\n") == parse_fping(b"\xff\xfe : 1\n")


# --- impossible RTTs: the probe is lost, the line is named, the rest of the batch stays ------


@pytest.mark.parametrize(
    ("line", "rtts_us"),
    [
        ("127.0.0.1 : 0.050 -0.012", [50, None]),
        ("127.0.0.1 : 0.050 99999999", [50, None]),  # beyond the longest timeout
        ("127.0.0.1 : -0.0 3600001 0.07", [0, None, 70]),
        ("127.0.0.1 : 1e400 0.050", [None, 50]),  # not finite
    ],
)
def test_impossible_rtts_in_c_rows_count_as_lost_with_a_warning(
    line: str, rtts_us: list[int | None]
) -> None:
    text = f"{line}\n10.0.0.2 : 0.10 0.20\n"
    out = parse_fping_output(text)
    first, second = out.targets
    assert (first.target, first.rtts_us) == ("127.0.0.1", rtts_us)
    assert (first.sent, first.received) == (len(rtts_us), sum(v is not None for v in rtts_us))
    assert second.rtts_us == [100, 200], "the rest of the batch is kept"
    assert [(w.line_no, w.line, w.reason) for w in out.warnings] == [(1, line, parser.IMPOSSIBLE)]
    with pytest.raises(FpingParseError, match="line 1: impossible RTT"):
        parse_fping_output(text, strict=True)


def test_impossible_rtts_in_other_line_kinds() -> None:
    text = (
        "a : [0], 64 bytes, -0.5 ms (0.10 avg, 0% loss)\n"
        "a : [1], 64 bytes, 0.25 ms (0.10 avg, 0% loss)\n"
        "b : xmt/rcv/%loss = 3/3/0%, min/avg/max = -1.0/0.5/0.9\n"
        '{"resp": {"host": "c", "seq": 0, "rtt": -3.5}}\n'
        '{"resp": {"host": "c", "seq": 1, "rtt": 0.5}}\n'
    )
    out = parse_fping_output(text)
    a, b, c = sorted(out.targets, key=lambda t: t.target)
    assert a.rtts_us == [None, 250] and (a.sent, a.received) == (2, 1)
    assert (b.sent, b.received, b.min_us, b.avg_us, b.max_us) == (3, 3, None, None, None)
    assert c.rtts_us == [None, 500]
    assert [w.line_no for w in out.warnings] == [1, 3, 4]
    assert {w.reason for w in out.warnings} == {parser.IMPOSSIBLE}


# --- hostile numbers: bounded memory and time, no crash ---------------------------------------


def test_a_huge_probe_index_is_not_expanded_into_a_huge_list() -> None:
    # One line used to build a list of a billion entries (tens of GB).
    out = parse_fping_output("a : [999999999], 64 bytes, 0.1 ms (0.1 avg, 0% loss)\n")
    [a] = out.targets
    assert a.rtts_us is None and a.sent is None
    assert a.errors and "not expanded" in a.errors[0]


def test_counts_beyond_64_bits_are_malformed_not_numbers() -> None:
    out = parse_fping_output(
        "a : xmt/rcv/%loss = 99999999999999999999999/1/0%\n"
        "b : [99999999999999999999], 64 bytes, 0.1 ms (0.1 avg, 0% loss)\n"
        '{"summary": {"host": "c", "xmt": 99999999999999999999999, "rcv": 1}}\n'
    )
    assert [w.line_no for w in out.warnings] == [1, 2, 3]
    assert all(t.sent is None for t in out.targets)


def test_a_repeated_probe_index_costs_linear_time() -> None:
    # Each repeat is a duplicate reply; finding the record for it used to scan all earlier ones.
    line = "a : [0], 64 bytes, 0.1 ms (0.1 avg, 0% loss)\n"
    [a] = parse_fping_output(line * 50_000).targets
    assert (a.sent, a.received, a.duplicates) == (1, 1, 49_999)
