"""Reports on the wire: encode, decode, validate, digest and split.

A report is checked whole before ingest writes anything (:func:`validate_report`); every
reason is safe to send back to its producer (a 4xx). The rules, decided here:

- ids and names: ``report_id`` of 1..128 characters of ``[A-Za-z0-9._:-]``; ``source`` of
  1..255 printable characters;
- time: ``started_at_ms`` not before 2020-01-01 and at most five minutes ahead of the
  ingesting clock; ``finished_at_ms``, when given, not before the start nor in the future;
- the spec: every field in the ranges the argv builder accepts (one definition, in
  :mod:`cloudperf_core.fping.argv`), every target an IP address or an RFC 1123 host name;
- the results: each names one of the spec's targets in canonical form (as the runner writes
  it) and **no target appears twice**: the runner never produces that, so such a report is
  refused rather than counted twice or silently merged;
- the numbers: within :mod:`cloudperf_core.limits` (what every store can hold) and
  consistent (received <= sent <= the spec's count, one RTT per probe sent, ...).

:func:`report_digest` fingerprints a report's content; the stores keep it with the report id,
so a reused id with different content is reported as a conflict, never taken as a duplicate.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

import msgspec

from cloudperf_core.clock import SystemClock
from cloudperf_core.errors import InvalidSpecError, ReportRejectedError
from cloudperf_core.fping.argv import validate_probe_spec, validate_target
from cloudperf_core.limits import (
    EARLIEST_START_MS,
    MAX_DUPLICATES,
    MAX_FUTURE_MS,
    MAX_RTT_US,
)
from cloudperf_core.models import MeasurementReport, ProbeSpec, TargetResult

__all__ = [
    "MAX_REPORT_ID_LEN",
    "check_report_id",
    "decode_report",
    "digests_conflict",
    "encode_report",
    "new_report_id",
    "report_digest",
    "split_report",
    "validate_report",
]

MAX_REPORT_ID_LEN = 128
MAX_NAME_LEN = 255
# Report ids travel in URLs, logs and SQL keys: keep them to a boring charset.
_REPORT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
# A dotted quad in the form ipaddress prints (no leading zeros): canonical as it stands.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# A name that is fine for the argv builder's spec checks whatever the address family.
_NEUTRAL_TARGET = "localhost"

_DIGEST_SLICE = 1024  # results encoded at a time for the digest

_report_decoder = msgspec.json.Decoder(MeasurementReport)
_report_encoder = msgspec.json.Encoder()


def new_report_id() -> str:
    return uuid.uuid4().hex


def encode_report(report: MeasurementReport) -> bytes:
    return _report_encoder.encode(report)


def report_digest(report: MeasurementReport) -> bytes:
    """16 bytes that change whenever anything in the report does: a hash of its canonical
    encoding, written piecewise (the report without its results, then the results in slices)
    so a report of 200,000 targets is never encoded whole."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(_report_encoder.encode(msgspec.structs.replace(report, results=[])))
    results = report.results
    for at in range(0, len(results), _DIGEST_SLICE):
        digest.update(_report_encoder.encode(results[at : at + _DIGEST_SLICE]))
    return digest.digest()


def digests_conflict(stored: bytes | None, new: bytes) -> bool:
    """Whether a report id stored with digest ``stored`` and met again with ``new`` names two
    different reports. An unknown digest (``None``/``b""``: stored before digests were kept,
    or not given) never conflicts: the report counts as a duplicate."""
    return bool(stored) and bool(new) and stored != new


def decode_report(body: bytes | str, *, now_ms: int | None = None) -> MeasurementReport:
    """Decode and validate one report; any problem is a ReportRejectedError with the reason."""
    try:
        report = _report_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ReportRejectedError(f"malformed report: {exc}") from exc
    validate_report(report, now_ms=now_ms)
    return report


def validate_report(report: MeasurementReport, *, now_ms: int | None = None) -> None:
    """Refuse a report that cannot be true or cannot be stored (see the module docstring).

    ``now_ms`` is the ingesting clock's time (default: the system clock).
    """
    check_report_id(report.report_id)
    if not report.source or len(report.source) > MAX_NAME_LEN or not report.source.isprintable():
        raise ReportRejectedError(
            f"source must be a name of 1..{MAX_NAME_LEN} printable characters"
        )
    _check_times(report, SystemClock().now_ms() if now_ms is None else now_ms)
    targets = _spec_targets(report.spec)
    seen: set[str] = set()
    for result in report.results:
        target = result.target
        if target not in targets:
            raise ReportRejectedError(_unknown_target(target))
        if target in seen:
            raise ReportRejectedError(
                f"target {target!r} is listed twice in the results (one result per target)"
            )
        seen.add(target)
        _validate_result(result, report.spec.count)


def check_report_id(report_id: str) -> None:
    """ReportRejectedError unless ``report_id`` is 1..128 characters of ``[A-Za-z0-9._:-]``
    starting with a letter or digit."""
    rid = report_id
    if not rid or len(rid) > MAX_REPORT_ID_LEN or not _REPORT_ID_RE.match(rid):
        raise ReportRejectedError(
            f"report_id must be 1..{MAX_REPORT_ID_LEN} characters of [A-Za-z0-9._:-]"
        )


def _check_times(report: MeasurementReport, now_ms: int) -> None:
    latest_ms = now_ms + MAX_FUTURE_MS
    if not EARLIEST_START_MS <= report.started_at_ms <= latest_ms:
        raise ReportRejectedError(
            f"started_at_ms {report.started_at_ms} is outside {EARLIEST_START_MS} (2020-01-01)"
            f"..{latest_ms} (five minutes from now)"
        )
    finished = report.finished_at_ms
    if finished is not None and not report.started_at_ms <= finished <= latest_ms:
        raise ReportRejectedError(
            f"finished_at_ms {finished} is before started_at_ms or in the future"
        )


def _spec_targets(spec: ProbeSpec) -> set[str]:
    """The spec's targets in canonical form; ReportRejectedError for any bad field."""
    try:
        # Every field but the targets through the argv builder's own checks (one definition
        # of the ranges), with a name that any family accepts standing in for the targets.
        validate_probe_spec(msgspec.structs.replace(spec, targets=(_NEUTRAL_TARGET,)))
    except InvalidSpecError as exc:
        raise ReportRejectedError(f"spec: {exc}") from exc
    if not spec.targets:
        raise ReportRejectedError("spec: targets must be a non-empty list")
    family = spec.ip_version
    if family is None and spec.source_address is not None:
        family = 6 if ":" in spec.source_address else 4
    out: set[str] = set()
    for raw in spec.targets:
        target = _canonical_target(raw)
        if target is None:
            raise ReportRejectedError(f"spec: {_unknown_target(raw)}")
        version = 6 if ":" in target else 4 if _CANONICAL_IPV4_RE.fullmatch(target) else None
        if family is not None and version is not None and version != family:
            raise ReportRejectedError(f"spec: target {raw!r} is not an IPv{family} address")
        out.add(target)
    return out


def _canonical_target(target: str) -> str | None:
    """The argv builder's normal form of ``target``, or ``None`` if it refuses it."""
    if _CANONICAL_IPV4_RE.fullmatch(target):
        return target  # the common case, without ipaddress's parsing
    return _validated_target(target)


@lru_cache(maxsize=65_536)
def _validated_target(target: str) -> str | None:
    try:
        return validate_target(target)
    except InvalidSpecError:
        return None


def _unknown_target(target: str) -> str:
    canonical = _canonical_target(target)
    if canonical is None:
        return f"target {target[:100]!r} is not an IP address or an RFC 1123 host name"
    if canonical != target:
        return f"target {target!r} is not in canonical form ({canonical!r})"
    return f"target {target!r} is not one of the spec's targets"


def _validate_result(r: TargetResult, count: int) -> None:
    where = f"target {r.target!r}"
    if not 0 <= r.duplicates <= MAX_DUPLICATES:
        raise ReportRejectedError(f"{where}: duplicates must be in 0..{MAX_DUPLICATES}")
    for name in ("min_us", "avg_us", "max_us"):
        value = getattr(r, name)
        if value is not None and not 0 <= value <= MAX_RTT_US:
            raise ReportRejectedError(f"{where}: {name} out of range 0..{MAX_RTT_US} us")
    if r.sent is None:
        if r.received is not None or r.rtts_us:
            raise ReportRejectedError(f"{where}: received or rtts without sent")
        return
    if not 0 <= r.sent <= count or r.received is None or r.received < 0:
        raise ReportRejectedError(
            f"{where}: sent must be in 0..{count} (the spec's count) and received non-negative"
        )
    if r.received > r.sent:
        raise ReportRejectedError(
            f"{where}: received {r.received} > sent {r.sent} (duplicates are not receptions)"
        )
    if r.rtts_us is not None:
        if len(r.rtts_us) != r.sent:
            raise ReportRejectedError(f"{where}: {len(r.rtts_us)} rtts for {r.sent} probes sent")
        got = [v for v in r.rtts_us if v is not None]
        if len(got) != r.received:
            raise ReportRejectedError(
                f"{where}: {len(got)} rtts present but received is {r.received}"
            )
        if got and (min(got) < 0 or max(got) > MAX_RTT_US):
            raise ReportRejectedError(f"{where}: rtt out of range 0..{MAX_RTT_US} us")


def split_report(report: MeasurementReport, max_bytes: int) -> list[MeasurementReport]:
    """Split a report by targets so each encoded part fits ``max_bytes``.

    Part ids derive from the report id and the split, so re-sending the same report yields
    the same parts and ingest stays idempotent. A single target too large to fit is refused.
    """
    if len(encode_report(report)) <= max_bytes:
        return [report]
    parts = 2
    n = len(report.results)
    while parts <= n:
        size = -(-n // parts)
        chunks = [report.results[i : i + size] for i in range(0, n, size)]
        out = [
            msgspec.structs.replace(
                report, report_id=f"{report.report_id}.{i + 1}of{len(chunks)}", results=chunk
            )
            for i, chunk in enumerate(chunks)
        ]
        if all(len(encode_report(p)) <= max_bytes for p in out):
            return out
        parts *= 2
    raise ReportRejectedError(
        f"report {report.report_id}: one target's results exceed {max_bytes} bytes"
    )
