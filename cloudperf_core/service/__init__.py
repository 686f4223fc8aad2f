"""Use-cases: measure, ingest reports (directly, from the report queue, or as SQS records pushed
to a Lambda), query merged stats by place, retag windows after a catalogue import.

They await ports only (store, catalogue, queues, runner, clock) and hold no state of their
own, so the CLI, the API, the Lambda entrypoints and tests wire them to whichever adapters
they like. One module per concern; the names below are re-exported for callers. Reports are
encoded, decoded and validated in :mod:`cloudperf_core.reports`.
"""

from __future__ import annotations

from cloudperf_core.reports import (
    MAX_REPORT_ID_LEN,
    decode_report,
    encode_report,
    new_report_id,
    split_report,
    validate_report,
)
from cloudperf_core.service.batches import BatchResult
from cloudperf_core.service.ingest import (
    DEFAULT_WINDOW_S,
    ingest_reports,
    ingest_sqs_records,
    process_report_batch,
    retag,
    tag_windows,
)
from cloudperf_core.service.measure import Runner, measure
from cloudperf_core.service.queries import all_probes, query_stats
from cloudperf_core.service.scheduling import TickPorts, TickResult, run_tick

__all__ = [
    "DEFAULT_WINDOW_S",
    "MAX_REPORT_ID_LEN",
    "BatchResult",
    "Runner",
    "TickPorts",
    "TickResult",
    "all_probes",
    "decode_report",
    "encode_report",
    "ingest_reports",
    "ingest_sqs_records",
    "measure",
    "new_report_id",
    "process_report_batch",
    "query_stats",
    "retag",
    "run_tick",
    "split_report",
    "tag_windows",
    "validate_report",
]
