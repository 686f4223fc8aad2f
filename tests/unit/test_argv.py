"""fping argv builder: validation, normalisation, injection safety, discovery range caps."""

from __future__ import annotations

import msgspec
import pytest

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.fping.argv import (
    build_discovery_argv,
    build_probe_argv,
    discovery_range_size,
    validate_probe_spec,
    validate_target,
)
from cloudperf_core.models import DiscoverySpec, ProbeSpec


def _targets_of(argv: list[str]) -> list[str]:
    return argv[argv.index("--") + 1 :]


def test_probe_argv_has_every_option_explicit_and_targets_after_double_dash() -> None:
    spec = ProbeSpec(
        targets=("127.0.0.1", "example.com"),
        count=20,
        period_ms=20,
        timeout_ms=800,
        interval_ms=2,
        size_bytes=100,
        retries=1,
    )
    argv = build_probe_argv(spec, "/usr/bin/fping")
    assert argv == [
        "/usr/bin/fping",
        "-C",
        "20",
        "-q",
        "-p",
        "20",
        "-t",
        "800",
        "-i",
        "2",
        "-b",
        "100",
        "-r",
        "1",
        "--",
        "127.0.0.1",
        "example.com",
    ]


def test_timeout_longer_than_period_is_kept() -> None:
    argv = build_probe_argv(ProbeSpec(targets=("::1",), period_ms=10, timeout_ms=1000))
    assert argv[argv.index("-t") + 1] == "1000"
    assert argv[argv.index("-p") + 1] == "10"


def test_family_and_source_flags() -> None:
    argv = build_probe_argv(
        ProbeSpec(targets=("::1",), ip_version=6, source_address="0:0::1"), "fping"
    )
    assert argv[argv.index("--") - 3 :] == ["-6", "-S", "::1", "--", "::1"]
    # A source address alone pins the family so names resolve to a usable address.
    argv = build_probe_argv(ProbeSpec(targets=("localhost",), source_address="127.0.0.1"))
    assert "-4" in argv and argv[argv.index("-S") + 1] == "127.0.0.1"


def test_interval_override_for_concurrent_batches() -> None:
    argv = build_probe_argv(ProbeSpec(targets=("127.0.0.1",), interval_ms=5), interval_ms=20)
    assert argv[argv.index("-i") + 1] == "20"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::0001", "::1"),
        ("FD00:200:2::30", "fd00:200:2::30"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("a-b.c1.example", "a-b.c1.example"),
        ("localhost", "localhost"),
    ],
)
def test_valid_targets_are_normalised(raw: str, normalised: str) -> None:
    assert validate_target(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "; rm -rf /",
        "127.0.0.1; rm -rf /",
        "-f/etc/passwd",
        "-f",
        "--help",
        "$(x)",
        "`id`",
        "a b",
        "example.com ",
        "exa\nmple.com",
        "bücher.example",
        "例え.jp",
        "-leading.example",
        "trailing-.example",
        "a..b",
        "a" * 64 + ".example",
        ("a" * 60 + ".") * 5 + "example",  # > 253 characters
        "under_score.example",
        "127.1",  # inet_aton shorthand, not a literal ipaddress accepts
        "0x7f000001",
        "1.2.3.4.5",
        "fe80::1%eth0",
        "10.0.0.0/8",
        "host:80",
    ],
)
def test_unsafe_or_malformed_targets_are_refused_with_the_value(raw: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_target(raw)
    assert repr(raw) in str(info.value)


def test_injection_attempt_never_reaches_argv() -> None:
    with pytest.raises(InvalidSpecError, match="rm -rf"):
        build_probe_argv(ProbeSpec(targets=("127.0.0.1", "; rm -rf /")))


def test_non_string_target_is_refused() -> None:
    with pytest.raises(InvalidSpecError):
        validate_target(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", 0),
        ("count", 10_001),
        ("count", True),
        ("period_ms", 0),
        ("period_ms", 3_600_001),
        ("timeout_ms", 0),
        ("timeout_ms", 9_223_372_036_854),  # overflowed inside fping: silent 100 % loss
        ("timeout_ms", 10**30),
        ("interval_ms", 0),
        ("interval_ms", 60_001),
        ("size_bytes", -1),
        ("size_bytes", 65_489),
        ("retries", -1),
        ("retries", 11),
        ("ip_version", 5),
        ("source_address", "not-an-ip"),
        ("source_address", "::1"),  # family differs from the IPv4 target
    ],
)
def test_out_of_range_spec_fields_are_refused(field: str, value: object) -> None:
    spec = ProbeSpec(targets=("127.0.0.1",), **{field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidSpecError, match=field):
        validate_probe_spec(spec)


def test_empty_target_list_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="non-empty"):
        validate_probe_spec(ProbeSpec(targets=()))


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("count", 10_000, "-C"),
        ("size_bytes", 0, "-b"),
        ("period_ms", 3_600_000, "-p"),
        ("timeout_ms", 3_600_000, "-t"),
        ("interval_ms", 60_000, "-i"),
    ],
)
def test_boundary_values_are_accepted(field: str, value: int, flag: str) -> None:
    spec = ProbeSpec(targets=("127.0.0.1",), **{field: value})  # type: ignore[arg-type]
    assert getattr(validate_probe_spec(spec), field) == value
    argv = build_probe_argv(spec)
    assert argv[argv.index(flag) + 1] == str(value)


@pytest.mark.parametrize(
    ("kind", "body", "where"),
    [
        (ProbeSpec, {"targets": ["127.0.0.1"], "timeout_ms": 9_223_372_036_854}, "timeout_ms"),
        (ProbeSpec, {"targets": ["127.0.0.1"], "count": 0}, "count"),
        (DiscoverySpec, {"start": "10.0.0.0/30", "max_hosts": 10**9}, "max_hosts"),
        (DiscoverySpec, {"start": "10.0.0.0/30", "retries": 11}, "retries"),
    ],
)
def test_decoded_specs_carry_the_same_ranges(
    kind: type, body: dict[str, object], where: str
) -> None:
    # Jobs and reports arrive as JSON: the model's bounds are the ones the argv builder uses.
    with pytest.raises(msgspec.ValidationError, match=where):
        msgspec.json.decode(msgspec.json.encode(body), type=kind)


def test_widened_interval_stays_within_what_fping_reads_exactly() -> None:
    spec = ProbeSpec(targets=("127.0.0.1",))
    with pytest.raises(InvalidSpecError, match="interval_ms"):
        build_probe_argv(spec, interval_ms=2**24 + 1)


def test_target_family_must_match_ip_version() -> None:
    with pytest.raises(InvalidSpecError, match="IPv4"):
        validate_probe_spec(ProbeSpec(targets=("::1",), ip_version=4))
    with pytest.raises(InvalidSpecError, match="IPv6"):
        validate_probe_spec(ProbeSpec(targets=("127.0.0.1",), ip_version=6))
    with pytest.raises(InvalidSpecError, match="source_address"):
        validate_probe_spec(ProbeSpec(targets=("::1",), ip_version=6, source_address="127.0.0.1"))


def test_duplicates_are_dropped_keeping_first_occurrence_after_normalisation() -> None:
    spec = validate_probe_spec(
        ProbeSpec(targets=("127.0.0.2", "::1", "127.0.0.1", "0::1", "127.0.0.2", "Localhost"))
    )
    assert spec.targets == ("127.0.0.2", "::1", "127.0.0.1", "localhost")
    argv = build_probe_argv(ProbeSpec(targets=("::1", "::0:1")))
    assert _targets_of(argv) == ["::1"]


# --- discovery ----------------------------------------------------------------------------


def test_discovery_range_and_cidr_forms() -> None:
    argv = build_discovery_argv(
        DiscoverySpec(start="127.0.0.1", end="127.0.0.9", retries=2, timeout_ms=300),
        "/usr/bin/fping",
    )
    assert argv == [
        "/usr/bin/fping",
        "-a",
        "-r",
        "2",
        "-t",
        "300",
        "-i",
        "10",
        "-4",
        "-g",
        "--",
        "127.0.0.1",
        "127.0.0.9",
    ]
    argv = build_discovery_argv(DiscoverySpec(start="127.0.0.5/24"))
    assert argv[-3:] == ["-g", "--", "127.0.0.0/24"]


def test_discovery_range_size_is_computed_before_fping_runs() -> None:
    assert discovery_range_size(DiscoverySpec(start="10.0.0.0/8")) == 2**24
    assert discovery_range_size(DiscoverySpec(start="10.0.0.1", end="10.0.0.1")) == 1
    with pytest.raises(InvalidSpecError, match="16777216 addresses"):
        build_discovery_argv(DiscoverySpec(start="10.0.0.0/8"))
    with pytest.raises(InvalidSpecError, match="more than the maximum of 16"):
        build_discovery_argv(DiscoverySpec(start="10.0.0.0", end="10.0.0.16"), max_range_size=16)
    assert build_discovery_argv(
        DiscoverySpec(start="10.0.0.0", end="10.0.0.15"), max_range_size=16
    )[-2:] == ["10.0.0.0", "10.0.0.15"]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("127.0.0.9", "127.0.0.1", "reversed"),
        ("127.0.0.1", "::1", "mixes"),
        ("127.0.0.1", "example.com", "IP literals"),
        ("; rm -rf /", None, "invalid discovery range"),
        ("-f/etc/passwd", None, "invalid discovery range"),
        ("10.0.0.0/33", None, "invalid discovery range"),
    ],
)
def test_bad_discovery_ranges_are_refused(start: str, end: str | None, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        build_discovery_argv(DiscoverySpec(start=start, end=end))


def test_ipv6_discovery_is_expanded_because_fping_51_has_no_ipv6_g() -> None:
    argv = build_discovery_argv(DiscoverySpec(start="fd00::1", end="fd00::3"))
    assert "-g" not in argv and "-6" in argv
    assert _targets_of(argv) == ["fd00::1", "fd00::2", "fd00::3"]
    argv = build_discovery_argv(DiscoverySpec(start="fd00::/126"))
    assert _targets_of(argv) == ["fd00::1", "fd00::2", "fd00::3"]
    with pytest.raises(InvalidSpecError, match="maximum"):
        build_discovery_argv(DiscoverySpec(start="fd00::/64"))


@pytest.mark.parametrize(
    ("start", "end", "targets"),
    [
        ("::1/128", None, ["::1"]),
        ("::1", "::3", ["::1", "::2", "::3"]),
        ("::", "::1", ["::", "::1"]),
        ("::ffff:ffff", "::1:0:1", ["::ffff:ffff", "::1:0:0", "::1:0:1"]),
    ],
)
def test_ipv6_ranges_of_low_addresses_stay_ipv6(
    start: str, end: str | None, targets: list[str]
) -> None:
    # Below 2**32 an address as an integer is ambiguous; the range's family decides.
    argv = build_discovery_argv(DiscoverySpec(start=start, end=end))
    assert "-6" in argv and _targets_of(argv) == targets


@pytest.mark.parametrize(
    ("field", "value"), [("max_hosts", 0), ("timeout_ms", 0), ("retries", 11), ("interval_ms", 0)]
)
def test_bad_discovery_numbers_are_refused(field: str, value: int) -> None:
    with pytest.raises(InvalidSpecError, match=field):
        build_discovery_argv(DiscoverySpec(start="127.0.0.0/30", **{field: value}))  # type: ignore[arg-type]


def test_discovery_source_must_match_range_family() -> None:
    with pytest.raises(InvalidSpecError, match="source_address"):
        build_discovery_argv(DiscoverySpec(start="127.0.0.0/30", source_address="::1"))
    argv = build_discovery_argv(DiscoverySpec(start="127.0.0.0/30", source_address="127.0.0.1"))
    assert argv[argv.index("-S") + 1] == "127.0.0.1"
