"""Report validation on ingest: numbers every store can hold, the spec, targets, time, digests;
and the one rule for message bodies on a text queue."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from cloudperf_core.bodies import BASE64, body_from_text, body_to_text
from cloudperf_core.errors import MessageDecodeError, ReportRejectedError
from cloudperf_core.limits import EARLIEST_START_MS, INT64_MAX, MAX_FUTURE_MS
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult
from cloudperf_core.reports import (
    decode_report,
    encode_report,
    report_digest,
    validate_report,
)

NOW_MS = 1_750_000_000_000


def make_report(**changes: object) -> MeasurementReport:
    results = [
        TargetResult(target="192.0.2.1", sent=4, received=3, rtts_us=[1000, None, 1200, 1100]),
        TargetResult(target="2001:db8::1", sent=4, received=4, rtts_us=[900, 950, 990, 1000]),
        TargetResult(target="probe.example.net", sent=4, received=0, rtts_us=[None] * 4),
    ]
    report = MeasurementReport(
        report_id="r-1",
        source="fra-1",
        started_at_ms=NOW_MS - 60_000,
        finished_at_ms=NOW_MS - 55_000,
        spec=ProbeSpec(targets=("192.0.2.1", "2001:db8::1", "probe.example.net"), count=4),
        results=results,
    )
    return msgspec.structs.replace(report, **changes)


def rejected(report: MeasurementReport) -> str:
    with pytest.raises(ReportRejectedError) as info:
        validate_report(report, now_ms=NOW_MS)
    return info.value.reason


def with_result(i: int, **changes: object) -> MeasurementReport:
    report = make_report()
    report.results[i] = msgspec.structs.replace(report.results[i], **changes)
    return report


def test_a_sound_report_passes() -> None:
    validate_report(make_report(), now_ms=NOW_MS)
    # As fping's summary only (-c), too.
    validate_report(
        with_result(0, rtts_us=None, min_us=1000, avg_us=1100, max_us=1200), now_ms=NOW_MS
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # The poison report of the issue: a count no store can add to.
        (lambda: with_result(0, sent=INT64_MAX, received=0, rtts_us=None), "sent must be in 0..4"),
        (lambda: with_result(0, sent=5, received=3, rtts_us=None), "sent must be in 0..4"),
        (lambda: with_result(0, duplicates=2**40), "duplicates must be in"),
        (lambda: with_result(0, rtts_us=[1000, None, 2**62, 1100]), "rtt out of range"),
        (lambda: with_result(0, rtts_us=[1000, None, -1, 1100]), "rtt out of range"),
        (lambda: with_result(0, rtts_us=None, avg_us=2**63), "avg_us out of range"),
        (lambda: with_result(0, rtts_us=None, min_us=-5), "min_us out of range"),
    ],
)
def test_numbers_no_store_can_hold_are_refused(
    change: Callable[[], MeasurementReport], reason: str
) -> None:
    assert reason in rejected(change())


@pytest.mark.parametrize(
    ("spec_changes", "reason"),
    [
        ({"count": -5}, "spec: count"),
        ({"count": 0}, "spec: count"),
        ({"retries": 99}, "spec: retries"),
        ({"size_bytes": 10**6}, "spec: size_bytes"),
        ({"interval_ms": 0}, "spec: interval_ms"),
        ({"source_address": "$(id)"}, "spec: source_address"),
        ({"ip_version": 4}, "is not an IPv4 address"),
        ({"targets": ()}, "non-empty"),
    ],
)
def test_spec_fields_are_checked_like_the_cli_checks_them(
    spec_changes: dict[str, object], reason: str
) -> None:
    report = make_report()
    report.spec = msgspec.structs.replace(report.spec, **spec_changes)
    assert reason in rejected(report)


def test_targets_must_be_addresses_or_host_names() -> None:
    report = make_report()
    report.spec = msgspec.structs.replace(report.spec, targets=(*report.spec.targets, "$(id)"))
    assert "'$(id)' is not an IP address or an RFC 1123 host name" in rejected(report)
    report = with_result(2, target="$(id)")
    assert "'$(id)' is not an IP address" in rejected(report)


def test_results_name_the_specs_targets_in_canonical_form() -> None:
    assert "not in canonical form ('2001:db8::1')" in rejected(with_result(1, target="2001:DB8::1"))
    assert "not one of the spec's targets" in rejected(with_result(1, target="192.0.2.99"))
    # The spec itself may spell a target as the user typed it.
    report = make_report()
    report.spec = msgspec.structs.replace(
        report.spec, targets=("192.0.2.1", "2001:DB8:0::1", "Probe.Example.NET")
    )
    validate_report(report, now_ms=NOW_MS)


def test_a_target_listed_twice_is_refused_not_counted_twice() -> None:
    report = make_report()
    report.results.append(report.results[0])
    assert "'192.0.2.1' is listed twice" in rejected(report)


@pytest.mark.parametrize(
    ("started_at_ms", "finished_at_ms", "ok"),
    [
        (EARLIEST_START_MS, None, True),
        (EARLIEST_START_MS - 1, None, False),
        (0, None, False),
        (NOW_MS + MAX_FUTURE_MS, None, True),
        (NOW_MS + MAX_FUTURE_MS + 1, None, False),
        (NOW_MS, NOW_MS - 1, False),  # finished before it started
        (NOW_MS, NOW_MS + MAX_FUTURE_MS + 1, False),
        (NOW_MS, NOW_MS + 1000, True),
    ],
)
def test_start_times_must_lie_between_2020_and_five_minutes_from_now(
    started_at_ms: int, finished_at_ms: int | None, ok: bool
) -> None:
    report = make_report(started_at_ms=started_at_ms, finished_at_ms=finished_at_ms)
    if ok:
        validate_report(report, now_ms=NOW_MS)
    else:
        assert "_at_ms" in rejected(report)


def test_the_clock_decides_what_the_future_is() -> None:
    report = make_report(started_at_ms=NOW_MS, finished_at_ms=None)
    assert "outside" in rejected(msgspec.structs.replace(report, started_at_ms=NOW_MS + 3_600_000))
    validate_report(report, now_ms=NOW_MS)
    with pytest.raises(ReportRejectedError):
        validate_report(report, now_ms=NOW_MS - 3_600_000)


@pytest.mark.parametrize("source", ["", "x" * 256, "line\nbreak", "esc\x1b]0;title\x07", "\ud800"])
def test_source_names_are_printable(source: str) -> None:
    assert "source must be" in rejected(make_report(source=source))


def test_decode_checks_everything_validate_checks() -> None:
    body = encode_report(with_result(0, sent=INT64_MAX, received=0, rtts_us=None))
    with pytest.raises(ReportRejectedError, match="sent must be"):
        decode_report(body, now_ms=NOW_MS)
    good = make_report()
    assert decode_report(encode_report(good), now_ms=NOW_MS) == good


def test_the_digest_follows_the_content_not_the_encoding() -> None:
    report = make_report()
    again = msgspec.json.decode(
        msgspec.json.format(encode_report(report), indent=4), type=MeasurementReport
    )
    assert report_digest(again) == report_digest(report)
    assert len(report_digest(report)) == 16
    assert report_digest(with_result(0, duplicates=1)) != report_digest(report)
    assert report_digest(make_report(started_at_ms=NOW_MS - 60_001)) != report_digest(report)


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b'{"a": "\xc3\xa9"}', b"", bytes(range(256)), b"\x00text", "\ud7ff".encode()]
)
def test_bodies_travel_as_text_and_come_back_byte_exact(body: bytes) -> None:
    text, encoding = body_to_text(body)
    assert body_from_text(text, encoding) == body
    if encoding is None:
        assert text == body.decode()


def test_text_that_is_not_what_the_attribute_says_is_a_decode_error() -> None:
    for text, encoding in [("not base64!", BASE64), ("QUJD", "rot13"), ("\ud800", None)]:
        with pytest.raises(MessageDecodeError):
            body_from_text(text, encoding)
