"""The real range of every number cloudperf accepts, in one table.

The model's fields carry these as ``msgspec.Meta`` bounds (so decoding a job or a report checks
them), the argv builder checks specs built in Python against the same bounds (read back from the
model with :func:`field_bounds`), and the CLI validates its options through the argv builder, so
a value past what fping or a store accepts fails early with one line naming the field.

Why these numbers:

- fping 5.1 reads ``-p``/``-t``/``-i`` into a C ``float`` of milliseconds and multiplies by 10^6
  into a signed 64-bit count of nanoseconds: exact only up to 2^24 ms, and past ~9.2e12 ms it
  overflows (``-t 9223372036854`` became a silent 100 % loss). Ours stay far below both.
- fping keeps no count limit of its own (``-c 4294967297`` wraps to 1); 10,000 probes per target
  keeps one report within what a queue message and one ingest can carry.
- ``-b`` is capped by fping's ``MAX_PING_DATA`` (65,488 bytes); ``-r`` by ours (backoff grows
  1.5^r).
- A reply later than the longest timeout cannot be real: ``MAX_RTT_US`` bounds every RTT.
- Window lengths are ``INT UNSIGNED`` in the MySQL schema; a day is the longest rollup.
"""

from __future__ import annotations

from functools import cache

import msgspec

MAX_COUNT = 10_000
MAX_PERIOD_MS = 3_600_000  # 1 h between probes to one target
MAX_TIMEOUT_MS = 3_600_000  # 1 h for one reply
MAX_INTERVAL_MS = 60_000  # 1 min between any two packets
MAX_SIZE_BYTES = 65_488  # fping 5.1 MAX_PING_DATA
MAX_RETRIES = 10
MAX_HOSTS = 65_536  # answering hosts one discovery reports
#: fping's ``-p``/``-t``/``-i`` are exact up to this many ms (a C float of ms).
FPING_MAX_MS = 2**24
MAX_RTT_US = MAX_TIMEOUT_MS * 1000
MAX_WINDOW_S = 86_400
#: ``report --since``: at most 100 years back.
MAX_DURATION_S = 100 * 365 * 86_400


@cache
def field_bounds(struct: type[msgspec.Struct], name: str) -> tuple[int | None, int | None]:
    """``(ge, le)`` of an integer field's ``msgspec.Meta`` (``None`` where unbounded).

    >>> from cloudperf_core.models import ProbeSpec
    >>> field_bounds(ProbeSpec, "count")
    (1, 10000)
    """
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        if field.name == name:
            kind = field.type
            if isinstance(kind, msgspec.inspect.IntType):
                return kind.ge, kind.le
            return None, None
    raise KeyError(name)
