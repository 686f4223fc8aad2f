"""SQL of the Aurora MySQL adapter, as constants with ``%s`` parameters.

No statement here is ever built from values: the only thing formatted into SQL is a run of
``%s`` placeholders (see :func:`adapters.aurora.db.placeholders`) whose count matches the
list being bound. Valid on MySQL 8 / Aurora MySQL 3 and MariaDB 10.11 (``VALUES(col)`` in
``ON DUPLICATE KEY UPDATE`` works on both; MySQL 8.0.20+ merely deprecates it).
"""

from __future__ import annotations

from adapters.aurora.db import placeholders, rows_placeholders
from adapters.window_rows import WINDOW_FIELDS

# The measurements columns in WindowAggregate field order (see adapters.window_rows).
WINDOW_COLUMNS = ", ".join(WINDOW_FIELDS)
N_WINDOW_COLUMNS = len(WINDOW_FIELDS)
# Column order of the primary key, used for row-constructor IN lists.
KEY_COLUMNS = "(source, target, window_s, window_start_s)"

# --- ingest ----------------------------------------------------------------------------------

SELECT_INGESTED_IDS = "SELECT report_id FROM ingested_reports WHERE report_id IN ({}) FOR UPDATE"
INSERT_INGESTED_IDS = "INSERT INTO ingested_reports (report_id, ingested_at_s) VALUES {}"
SELECT_WINDOWS_FOR_UPDATE = (
    f"SELECT {WINDOW_COLUMNS} FROM measurements"  # noqa: S608 - constant columns, no values
    " WHERE window_start_s BETWEEN %s AND %s AND window_s IN ({}) AND source IN ({})"
    " AND target IN ({}) FOR UPDATE"
)
UPSERT_WINDOWS = (
    f"INSERT INTO measurements ({WINDOW_COLUMNS}) VALUES {{}}"  # noqa: S608 - constant columns, no values
    " ON DUPLICATE KEY UPDATE sent = VALUES(sent), received = VALUES(received),"
    " duplicates = VALUES(duplicates), rtt_sum_us = VALUES(rtt_sum_us),"
    " rtt_sumsq_us2 = VALUES(rtt_sumsq_us2), rtt_min_us = VALUES(rtt_min_us),"
    " rtt_max_us = VALUES(rtt_max_us), jitter_sum_us = VALUES(jitter_sum_us),"
    " jitter_pairs = VALUES(jitter_pairs), sketch = VALUES(sketch),"
    " dest_location_id = VALUES(dest_location_id)"
)
# Tagging after a catalogue import: one statement per chunk of targets.
SELECT_UNTAGGED = (
    "SELECT DISTINCT target FROM measurements WHERE dest_location_id IS NULL AND target > %s"
    " ORDER BY target LIMIT %s"
)
TAG_TARGETS = (
    "UPDATE measurements SET dest_location_id = CASE target {} END"
    " WHERE dest_location_id IS NULL AND target IN ({})"
)
TAG_CASE = "WHEN %s THEN %s"
PRESENCE_SOURCES = (
    "SELECT DISTINCT source FROM measurements WHERE window_start_s >= %s AND window_start_s < %s"
    " ORDER BY source"
)
PRESENCE_DESTS = (
    "SELECT DISTINCT dest_location_id FROM measurements WHERE window_start_s >= %s"
    " AND window_start_s < %s AND dest_location_id IS NOT NULL ORDER BY dest_location_id"
)
PRESENCE_PAIRS = (
    "SELECT COUNT(*) FROM (SELECT DISTINCT source, target FROM measurements"
    " WHERE window_start_s >= %s AND window_start_s < %s) AS pairs"
)

# --- fetch -----------------------------------------------------------------------------------

SELECT_WINDOWS = f"SELECT {WINDOW_COLUMNS} FROM measurements WHERE 1 = 1"  # noqa: S608 - constant columns, no values
AND_SOURCE_IN = " AND source IN ({})"
AND_TARGET_IN = " AND target IN ({})"
AND_DEST_IN = " AND dest_location_id IN ({})"
AND_SINCE = " AND window_start_s >= %s"
AND_UNTIL = " AND window_start_s < %s"
ORDER_WINDOWS = " ORDER BY source, target, window_start_s, window_s"


def in_list(template: str, n: int) -> str:
    """``template`` with its ``{}`` replaced by ``n`` placeholders."""
    return template.format(placeholders(n))


def values_rows(template: str, n_rows: int, n_cols: int) -> str:
    """``template`` with its ``{}`` replaced by ``n_rows`` row constructors of placeholders."""
    return template.format(rows_placeholders(n_rows, n_cols))


def union_all(part: str, n: int) -> str:
    """``n`` copies of a parenthesised SELECT joined by UNION ALL (same placeholders each)."""
    if n < 1:
        raise ValueError("need at least one part")
    return " UNION ALL ".join([part] * n)
