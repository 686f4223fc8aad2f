"""Line parsers of the catalogue formats, and a chunked reader that resumes at a byte offset.

- ip2asn (iptoasn.com ``ip2asn-combined.tsv``): ``range_start TAB range_end TAB AS_number
  TAB country_code TAB AS_description``, IPv4 and IPv6. AS 0 ("Not routed") lines are
  skipped: nothing there to measure.
- DB-IP Lite city (``dbip-city-lite-*.csv``): ``ip_start,ip_end,continent,country,stateprov,
  city,latitude,longitude`` (CSV quoting), IPv4 and IPv6.

Both files are sorted by address. A line that does not parse, or that starts before the end
of the previous accepted line (out of order, overlapping), is skipped and reported with its
line number and the reason; nothing here raises on bad input. Files may be gzip-compressed
(detected by their magic bytes). Reading is blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, Literal, cast

from cloudperf_core.catalog import MAX_NAME_LEN
from cloudperf_core.errors import CloudperfError

__all__ = [
    "AsnRecord",
    "ChunkRead",
    "CityRecord",
    "Format",
    "LineError",
    "parse_dbip_city_line",
    "parse_ip2asn_line",
    "read_chunk",
]

Format = Literal["ip2asn", "cities"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NO_COUNTRY = {"NONE", "ZZ", "UNKNOWN", ""}
MAX_LINE_BYTES = 4096


class LineError(CloudperfError):
    """One line of an import file that cannot be used (the reason is shown with its number)."""


@dataclass(frozen=True, slots=True)
class AsnRecord:
    """One ip2asn line: the range and who announces it."""

    version: int
    lo: int
    hi: int
    asn: int
    country: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class CityRecord:
    """One DB-IP city line: the range and where it is."""

    version: int
    lo: int
    hi: int
    country: str | None
    region: str | None
    city: str | None
    latitude: float | None
    longitude: float | None


Record = AsnRecord | CityRecord


def _text(value: str, what: str) -> str | None:
    value = value.strip()
    if _CONTROL.search(value):
        raise LineError(f"control characters in the {what}")
    if len(value) > MAX_NAME_LEN:
        raise LineError(f"the {what} is longer than {MAX_NAME_LEN} characters")
    return value or None


def _bounds(start: str, end: str) -> tuple[int, int, int]:
    try:
        lo, hi = ipaddress.ip_address(start.strip()), ipaddress.ip_address(end.strip())
    except ValueError as exc:
        raise LineError(f"not an IP address range: {start[:60]!r} .. {end[:60]!r}") from exc
    if lo.version != hi.version or int(lo) > int(hi):
        raise LineError(f"not an IP address range: {lo} .. {hi}")
    return lo.version, int(lo), int(hi)


def _country(value: str) -> str | None:
    code = value.strip().upper()
    if code in _NO_COUNTRY:
        return None
    if not _COUNTRY.match(code):
        raise LineError(f"not a two-letter country code: {value[:20]!r}")
    return code


def parse_ip2asn_line(line: str) -> AsnRecord | None:
    """An ip2asn line as a record; ``None`` for AS 0 (not routed). LineError if unusable."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 5:
        raise LineError(f"expected 5 tab-separated fields, found {len(fields)}")
    version, lo, hi = _bounds(fields[0], fields[1])
    digits = fields[2].strip()
    if not digits.isdigit() or not digits.isascii() or len(digits) > 10 or int(digits) >= 2**32:
        raise LineError(f"not an AS number: {fields[2][:20]!r}")
    asn = int(digits)
    if asn == 0:
        return None
    return AsnRecord(
        version=version,
        lo=lo,
        hi=hi,
        asn=asn,
        country=_country(fields[3]),
        description=_text(fields[4], "AS description"),
    )


def _degrees(value: str, bound: int, what: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        degrees = float(value)
    except ValueError as exc:
        raise LineError(f"not a {what}: {value[:20]!r}") from exc
    if not math.isfinite(degrees) or not -bound <= degrees <= bound:
        raise LineError(f"{what} out of range: {value[:20]!r}")
    return degrees


def parse_dbip_city_line(line: str) -> CityRecord:
    """A DB-IP Lite city line as a record (LineError if unusable)."""
    try:
        rows = list(csv.reader([line.rstrip("\r\n")], strict=True))
    except csv.Error as exc:
        raise LineError(f"not a CSV line: {exc}") from exc
    fields = rows[0] if rows else []
    if len(fields) != 8:
        raise LineError(f"expected 8 comma-separated fields, found {len(fields)}")
    version, lo, hi = _bounds(fields[0], fields[1])
    region, city = _text(fields[4], "state/province"), _text(fields[5], "city")
    return CityRecord(
        version=version,
        lo=lo,
        hi=hi,
        country=_country(fields[3]),
        region=region,
        city=city,
        latitude=_degrees(fields[6], 90, "latitude"),
        longitude=_degrees(fields[7], 180, "longitude"),
    )


PARSERS: dict[Format, Callable[[str], Record | None]] = {
    "ip2asn": parse_ip2asn_line,
    "cities": parse_dbip_city_line,
}


@dataclass
class ChunkRead:
    """What :func:`read_chunk` read: usable records, skipped lines, where to go on."""

    records: list[Record] = field(default_factory=list)
    issues: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    not_routed: int = 0
    lines: int = 0
    offset: int = 0  # of the next line, in the (decompressed) stream
    raw_offset: int = 0  # bytes of the file itself read so far (progress)
    last: tuple[int, int] | None = None  # (version, hi) of the last accepted record
    done: bool = False


def open_import(path: Path) -> tuple[IO[bytes], BinaryIO]:
    """``(stream, raw)``: the file's lines (gunzipped if it is gzip) and the file itself."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CloudperfError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    raw.seek(0)
    return raw, raw


def read_chunk(
    path: Path,
    fmt: Format,
    *,
    offset: int,
    first_line_no: int,
    last: tuple[int, int] | None,
    max_lines: int,
) -> ChunkRead:
    """Up to ``max_lines`` lines from byte ``offset`` (numbered from ``first_line_no``), parsed.

    ``last`` is the (version, hi) of the last accepted record before ``offset``: a record
    must start after it. A header line (the first, starting with a letter) is skipped.
    """
    parse = PARSERS[fmt]
    out = ChunkRead(offset=offset, last=last)
    stream, raw = open_import(path)
    try:
        stream.seek(offset)
        while out.lines < max_lines:
            data = stream.readline(MAX_LINE_BYTES + 1)
            if not data:
                out.done = True
                break
            out.offset += len(data)
            too_long = len(data) > MAX_LINE_BYTES
            while too_long and data and not data.endswith(b"\n"):
                data = stream.readline(MAX_LINE_BYTES + 1)  # the rest of a huge line
                out.offset += len(data)
            line_no = first_line_no + out.lines
            out.lines += 1
            if too_long:
                out.issues.append((line_no, f"line longer than {MAX_LINE_BYTES} bytes"))
            else:
                _take(out, parse, data, line_no)
        out.raw_offset = raw.tell()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CloudperfError(f"cannot read {path}: {exc}") from exc
    finally:
        stream.close()
        raw.close()
    return out


def _take(out: ChunkRead, parse: Callable[[str], Record | None], data: bytes, line_no: int) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        out.issues.append((line_no, "not UTF-8 text"))
        return
    if not text.strip() or (line_no == 1 and text[:1].isalpha() and ":" not in text[:8]):
        return  # blank, or a header row ("ip_start,ip_end,..."); addresses start with a digit
    try:
        record = parse(text)
    except LineError as exc:
        out.issues.append((line_no, str(exc)))
        return
    if record is None:
        out.not_routed += 1
        return
    if out.last is not None and (record.version, record.lo) <= out.last:
        out.issues.append((line_no, "out of order: starts before the end of an earlier line"))
        return
    out.last = (record.version, record.hi)
    out.records.append(record)
