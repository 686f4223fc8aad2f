"""SQL of the Aurora MySQL adapter, as constants with ``%s`` parameters.

No statement here is ever built from values: the only thing formatted into SQL is a run of
``%s`` placeholders (see :func:`adapters.aurora.db.placeholders`) whose count matches the
list being bound. Valid on MySQL 8 / Aurora MySQL 3 and MariaDB 10.11.

Upserts come in two texts, keyed by :data:`adapters.aurora.config.Dialect`: MariaDB refers to
the row being inserted as ``VALUES(col)``, MySQL 8.0.19+ as a row alias (``INSERT ... AS new
ON DUPLICATE KEY UPDATE col = new.col``; ``VALUES()`` is deprecated there from 8.0.20). Both
are made once, at import, from one text that writes ``NEW(col)``.
"""

from __future__ import annotations

import re

from adapters.aurora.config import Dialect
from adapters.aurora.db import placeholders, rows_placeholders
from adapters.window_rows import WINDOW_FIELDS
from cloudperf_core.errors import InvalidSpecError

_NEW = re.compile(r"NEW\((\w+)\)")


def upsert(insert: str, update: str) -> dict[Dialect, str]:
    """``insert ... ON DUPLICATE KEY UPDATE update`` in both dialects (``NEW(col)`` marks
    the inserted row's value)."""
    by_values = _NEW.sub(r"VALUES(\1)", update)
    by_alias = _NEW.sub(r"new.\1", update)
    return {
        "values": f"{insert} ON DUPLICATE KEY UPDATE {by_values}",
        "alias": f"{insert} AS new ON DUPLICATE KEY UPDATE {by_alias}",
    }


# The measurements columns in WindowAggregate field order (see adapters.window_rows).
WINDOW_COLUMNS = ", ".join(WINDOW_FIELDS)
N_WINDOW_COLUMNS = len(WINDOW_FIELDS)
# A row's identity in the order of cloudperf_core.models.WindowKey, for row-constructor IN lists.
KEY_COLUMNS = "(source, target, window_start_s, window_s)"

# --- ingest ----------------------------------------------------------------------------------

SELECT_INGESTED_IDS = (
    "SELECT report_id, digest FROM ingested_reports WHERE report_id IN ({}) FOR UPDATE"
)
INSERT_INGESTED_IDS = "INSERT INTO ingested_reports (report_id, ingested_at_s, digest) VALUES {}"
SELECT_WINDOWS_FOR_UPDATE = (
    f"SELECT {WINDOW_COLUMNS} FROM measurements"  # noqa: S608 - constant columns, no values
    " WHERE window_start_s BETWEEN %s AND %s AND window_s IN ({}) AND source IN ({})"
    " AND target IN ({}) FOR UPDATE"
)
UPSERT_WINDOWS = upsert(
    f"INSERT INTO measurements ({WINDOW_COLUMNS}) VALUES {{}}",  # noqa: S608 - constant columns, no values
    "sent = NEW(sent), received = NEW(received), duplicates = NEW(duplicates),"
    " rtt_sum_us = NEW(rtt_sum_us), rtt_sumsq_us2 = NEW(rtt_sumsq_us2),"
    " rtt_min_us = NEW(rtt_min_us), rtt_max_us = NEW(rtt_max_us),"
    " jitter_sum_us = NEW(jitter_sum_us), jitter_pairs = NEW(jitter_pairs), sketch = NEW(sketch),"
    " dest_location_id = NEW(dest_location_id)",
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
        raise InvalidSpecError("need at least one part")
    return " UNION ALL ".join([part] * n)
