"""Catalogue import formats (ip2asn TSV, DB-IP Lite city CSV) and the range join.

Pure parsing and joining; :mod:`cloudperf_core.service.admin` reads files in chunks, joins
them against the catalogue and keeps a checkpoint per file so an interrupted import resumes.
"""

from __future__ import annotations

from cloudperf_core.importers.formats import (
    AsnRecord,
    ChunkRead,
    CityRecord,
    Format,
    LineError,
    parse_dbip_city_line,
    parse_ip2asn_line,
    read_chunk,
)
from cloudperf_core.importers.join import (
    JoinResult,
    StoredSpan,
    combine_for,
    country_name,
    join_chunk,
    location_name,
)

__all__ = [
    "AsnRecord",
    "ChunkRead",
    "CityRecord",
    "Format",
    "JoinResult",
    "LineError",
    "StoredSpan",
    "combine_for",
    "country_name",
    "join_chunk",
    "location_name",
    "parse_dbip_city_line",
    "parse_ip2asn_line",
    "read_chunk",
]
