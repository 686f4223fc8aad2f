"""Retention for the Aurora store: old windows roll up into coarser ones, the coarsest expire.

The policy is :class:`cloudperf_core.catalog.RetentionPolicy`; this module holds its SQL.
Default policy: 60 s windows are kept 2 days, then become 1 h windows kept 30 days, then 1 day
windows kept 400 days, then are deleted; report ids are remembered 30 days (longer than any
queue redelivery). Rolling up merges counts and sketches exactly like ingest does, so stats
over a rolled-up range equal stats over the raw rows (percentiles within the sketch bound).

Work goes in chunks of ``chunk_rows`` source rows per transaction, so a large backlog never
holds locks or memory for long and storage stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.aurora import sql
from adapters.aurora.db import Database, Tx
from adapters.aurora.rows import (
    MAX_KEYS_PER_STATEMENT,
    select_windows_for_update,
    upsert_windows,
)
from adapters.window_rows import window_from_row
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import RetentionPolicy, RetentionResult
from cloudperf_core.models import WindowAggregate, WindowKey
from cloudperf_core.windows.aggregate import combine_all, rewindow, window_key

__all__ = ["RetentionPolicy", "RetentionResult", "apply_retention"]

SELECT_OLD_WINDOWS = (
    f"SELECT {sql.WINDOW_COLUMNS} FROM measurements"  # noqa: S608 - constant columns, no values
    " WHERE window_s = %s AND window_start_s < %s ORDER BY window_start_s LIMIT %s FOR UPDATE"
)
DELETE_WINDOWS_FOR_KEYS = f"DELETE FROM measurements WHERE {sql.KEY_COLUMNS} IN ({{}})"  # noqa: S608 - constant columns, no values
EXPIRE_WINDOWS = "DELETE FROM measurements WHERE window_s = %s AND window_start_s < %s LIMIT %s"
EXPIRE_REPORT_IDS = "DELETE FROM ingested_reports WHERE ingested_at_s < %s LIMIT %s"
EXPIRE_SWEEP_IDS = "DELETE FROM discovery_sweeps WHERE recorded_at_ms < %s LIMIT %s"


async def apply_retention(db: Database, now_s: int, policy: RetentionPolicy) -> RetentionResult:
    """Apply ``policy`` as of ``now_s``; safe to run concurrently or repeatedly."""
    policy.validate()
    result = RetentionResult()
    for (fine_s, keep_s), (coarse_s, _) in zip(policy.tiers, policy.tiers[1:], strict=False):
        # A window is old once it has *ended* keep_s ago.
        before = now_s - keep_s - fine_s + 1
        while True:

            async def body(cur: Tx, f: int = fine_s, c: int = coarse_s, b: int = before) -> int:
                return await _roll_up_chunk(cur, f, c, b, policy.chunk_rows)

            moved = await db.run("retention roll-up", body)
            result.rolled_up += moved
            if moved < policy.chunk_rows:
                break
    last_s, last_keep_s = policy.tiers[-1]
    result.expired = await _delete_in_chunks(
        db, EXPIRE_WINDOWS, (last_s, now_s - last_keep_s - last_s + 1), policy.chunk_rows
    )
    result.report_ids_expired = await _delete_in_chunks(
        db, EXPIRE_REPORT_IDS, (now_s - policy.report_ids_keep_s,), policy.chunk_rows
    )
    result.sweep_ids_expired = await _delete_in_chunks(
        db, EXPIRE_SWEEP_IDS, ((now_s - policy.report_ids_keep_s) * 1000,), policy.chunk_rows
    )
    return result


async def _roll_up_chunk(cur: Tx, fine_s: int, coarse_s: int, before_s: int, limit: int) -> int:
    await cur.execute(SELECT_OLD_WINDOWS, (fine_s, before_s, limit))
    rows = await cur.fetchall()
    if not rows:
        return 0
    pending: dict[WindowKey, list[WindowAggregate]] = {}
    for row in rows:
        coarse = rewindow(window_from_row(row), coarse_s)
        pending.setdefault(window_key(coarse), []).append(coarse)
    found = await select_windows_for_update(cur, list(pending))
    stored = {window_key(row): row for row in found}
    staged = list(combine_all(pending, stored).values())
    await upsert_windows(cur, staged)
    old_keys: Sequence[WindowKey] = [window_key(window_from_row(r)) for r in rows]
    for chunk in chunks(old_keys, MAX_KEYS_PER_STATEMENT):
        stmt = sql.values_rows(DELETE_WINDOWS_FOR_KEYS, len(chunk), 4)
        await cur.execute(stmt, [v for key in chunk for v in key])
    return len(rows)


async def _delete_in_chunks(db: Database, stmt: str, args: tuple[Any, ...], limit: int) -> int:
    total = 0
    while True:

        async def body(cur: Tx) -> int:
            return int(await cur.execute(stmt, (*args, limit)))

        deleted = await db.run("retention expiry", body)
        total += deleted
        if deleted < limit:
            return total
