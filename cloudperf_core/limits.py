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

What every store can hold (ingest validates against it before anything is written, and
every window merge checks its sums against it):

Every store keeps a window's counts and integer sums in 64-bit integers (Aurora ``BIGINT``,
some ``UNSIGNED``; SQLite ``INTEGER`` is signed), the sum of squares in a 64-bit float, and
RTTs in integer microseconds. So:

- a report's numbers are refused one by one (:func:`cloudperf_core.reports.validate_report`)
  unless they are in these ranges: at most ``MAX_COUNT`` probes per target (the argv
  builder's own limit), RTTs and fping's summaries ``0 .. MAX_RTT_US``, at most
  ``MAX_DUPLICATES`` duplicate replies per target;
- within those caps one report adds at most ``MAX_COUNT * MAX_RTT_US`` (3.6e13) to a window's
  RTT and jitter sums, so more than 250,000 such reports would have to land in ONE window
  (source, target, window) before a sum could pass ``INT64_MAX``: far beyond any real rate,
  even in a one-day roll-up;
- and should it ever happen, :func:`check_row` refuses the merged row with
  :class:`StoreLimitError` instead of letting a driver overflow: the ingest use-cases then
  isolate the report(s) that tip the window over, which fail alone.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

import msgspec

from cloudperf_core.errors import InvalidSpecError, StoreLimitError

if TYPE_CHECKING:  # models import this module for their bounds
    from cloudperf_core.models import WindowAggregate

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
    raise InvalidSpecError(f"{struct.__name__} has no field {name!r}")


# --- what every store can hold ------------------------------------------------------------

INT64_MAX = 2**63 - 1
MAX_DUPLICATES = 1_000_000  # per target and report: 100 per probe at the largest count
# Start times a report may have: not before 2020-01-01T00:00:00Z, and no more than five
# minutes ahead of the ingesting clock (clock skew between a probe and the worker).
EARLIEST_START_MS = 1_577_836_800_000
MAX_FUTURE_MS = 5 * 60_000


def check_row(row: WindowAggregate) -> None:
    """Raise :class:`StoreLimitError` unless every number of ``row`` fits every store."""
    if not (
        0 <= row.sent <= INT64_MAX
        and 0 <= row.received <= INT64_MAX
        and 0 <= row.duplicates <= INT64_MAX
        and 0 <= row.jitter_pairs <= INT64_MAX
        and -INT64_MAX <= row.rtt_sum_us <= INT64_MAX
        and -INT64_MAX <= row.jitter_sum_us <= INT64_MAX
        and math.isfinite(row.rtt_sumsq_us2)
    ):
        raise StoreLimitError(
            f"window ({row.source!r}, {row.target!r}, {row.window_start_s}, {row.window_s}s) "
            "would hold counts or sums beyond what a store can keep (64-bit)"
        )
