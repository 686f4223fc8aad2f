"""Window aggregates as flat rows, the shape SQL stores read and write.

The column order is the field order of :class:`~cloudperf_core.models.WindowAggregate`
(``WINDOW_FIELDS``), so a store's ``SELECT`` list and ``INSERT`` placeholders follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from cloudperf_core.models import WindowAggregate

WINDOW_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(WindowAggregate))


def window_to_row(w: WindowAggregate) -> tuple[Any, ...]:
    """The row of ``w``'s values in ``WINDOW_FIELDS`` order."""
    return msgspec.structs.astuple(w)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def window_from_row(row: Sequence[Any]) -> WindowAggregate:
    """A ``WINDOW_FIELDS``-ordered row as a WindowAggregate (``dest_location_id``, the last
    field, may be left out of the row).

    Values are coerced (drivers return ``Decimal`` for big integers and ``bytearray`` or
    ``memoryview`` for blobs), so every store hands the core the same types.
    """
    return WindowAggregate(
        source=str(row[0]),
        target=str(row[1]),
        window_start_s=int(row[2]),
        window_s=int(row[3]),
        sent=int(row[4]),
        received=int(row[5]),
        duplicates=int(row[6]),
        rtt_sum_us=int(row[7]),
        rtt_sumsq_us2=float(row[8]),
        rtt_min_us=_opt_int(row[9]),
        rtt_max_us=_opt_int(row[10]),
        jitter_sum_us=int(row[11]),
        jitter_pairs=int(row[12]),
        sketch=bytes(row[13]),
        dest_location_id=_opt_int(row[14]) if len(row) > 14 else None,
    )
