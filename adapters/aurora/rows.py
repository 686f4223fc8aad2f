"""Row mapping and the multi-row statements shared by the Aurora store, catalog and retention.

Each helper issues one statement per chunk (chunks keep statements far below
``max_allowed_packet``), so the number of round trips depends on the batch's size in bytes,
never on its number of rows or addresses.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.aurora import sql
from adapters.aurora.db import Tx, dialect, placeholders
from adapters.window_rows import window_from_row, window_to_row
from cloudperf_core.batching import chunks
from cloudperf_core.models import WindowAggregate, WindowKey
from cloudperf_core.windows.aggregate import window_key

# Chunk sizes keep every statement far below max_allowed_packet (16 MiB default on both).
MAX_IDS_PER_STATEMENT = 1000
MAX_KEYS_PER_STATEMENT = 500
MAX_ROWS_PER_UPSERT = 1000
MAX_STATEMENT_BYTES = 4 * 1024 * 1024
_ROW_OVERHEAD_BYTES = 200


async def select_windows_for_update(cur: Tx, keys: Sequence[WindowKey]) -> list[WindowAggregate]:
    """The existing rows for ``keys``, locked, in a bounded number of statements.

    Plain ``IN`` lists on source, target and window length plus a range on the window start:
    MariaDB spends ~30 ms just planning a 400-tuple row-constructor ``IN``, against ~2 ms for
    this form. The lists select a superset (every combination), filtered back to the keys here.
    """
    wanted = set(keys)
    if not wanted:
        return []
    sources = sorted({k[0] for k in wanted})
    targets = sorted({k[1] for k in wanted})
    first_s = min(k[2] for k in wanted)
    last_s = max(k[2] for k in wanted)
    lengths = sorted({k[3] for k in wanted})
    found: list[WindowAggregate] = []
    for src_chunk in chunks(sources, MAX_KEYS_PER_STATEMENT):
        for dst_chunk in chunks(targets, MAX_KEYS_PER_STATEMENT):
            stmt = sql.SELECT_WINDOWS_FOR_UPDATE.format(
                placeholders(len(lengths)),
                placeholders(len(src_chunk)),
                placeholders(len(dst_chunk)),
            )
            await cur.execute(stmt, [first_s, last_s, *lengths, *src_chunk, *dst_chunk])
            rows = (window_from_row(r) for r in await cur.fetchall())
            found.extend(row for row in rows if window_key(row) in wanted)
    return found


async def upsert_windows(cur: Tx, rows: Sequence[WindowAggregate]) -> None:
    """Write rows (overwriting stored values) in as few multi-row statements as fit."""
    batch: list[WindowAggregate] = []
    size = 0

    async def flush() -> None:
        stmt = sql.values_rows(sql.UPSERT_WINDOWS[dialect(cur)], len(batch), sql.N_WINDOW_COLUMNS)
        params = [v for w in batch for v in window_to_row(w)]
        await cur.execute(stmt, params)

    for w in rows:
        row_bytes = len(w.sketch) * 2 + len(w.source) + len(w.target) + _ROW_OVERHEAD_BYTES
        if batch and (len(batch) >= MAX_ROWS_PER_UPSERT or size + row_bytes > MAX_STATEMENT_BYTES):
            await flush()
            batch, size = [], 0
        batch.append(w)
        size += row_bytes
    if batch:
        await flush()
