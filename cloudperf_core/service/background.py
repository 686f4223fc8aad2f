"""The loops ``cloudperf serve`` runs beside the API: the worker and the scheduler tick.

On AWS these are Lambda functions (an SQS trigger, an EventBridge schedule); on one machine they
are two tasks in the server's event loop, over the same ports. Both stop at ``stop`` between
units of work, so a batch in hand is finished (or released) before the process exits, and both
outlive a backend outage: a failed round is logged in one line and retried after a pause that
grows (bounded) while the failure lasts.
"""

from __future__ import annotations

import logging

import anyio

from cloudperf_core.backoff import Backoff
from cloudperf_core.errors import CloudperfError
from cloudperf_core.ports import Clock, MeasurementStore, ReportQueue
from cloudperf_core.service.batches import WorkerCatalog
from cloudperf_core.service.ingest import DEFAULT_WINDOW_S, process_report_batch
from cloudperf_core.service.scheduling import TickPorts, run_tick
from cloudperf_core.settings import ServiceSettings

log = logging.getLogger(__name__)

#: How long the worker waits before looking again at a queue that had nothing.
WORKER_IDLE_S = 0.25
#: Messages per receive (SQS's maximum) and how long a received batch stays hidden.
WORKER_BATCH = 10
WORKER_VISIBILITY_S = 60.0


async def _pause(stop: anyio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    with anyio.move_on_after(seconds):
        await stop.wait()


async def run_worker(
    queue: ReportQueue,
    store: MeasurementStore,
    catalog: WorkerCatalog,
    clock: Clock,
    stop: anyio.Event,
    *,
    window_s: int = DEFAULT_WINDOW_S,
) -> int:
    """Ingest from the reports queue until ``stop``; return how many reports were stored.

    Each batch is the same use-case the worker Lambda runs: a message is acknowledged once its
    report is stored (or was before), released otherwise, so the queue's redrive policy moves
    a poison message to the dead-letter queue and a transient store error retries the batch.
    """
    stored = 0
    backoff = Backoff(base_s=0.5, cap_s=30.0)
    while not stop.is_set():
        try:
            result = await process_report_batch(
                queue,
                store,
                max_messages=WORKER_BATCH,
                visibility_s=WORKER_VISIBILITY_S,
                window_s=window_s,
                catalog=catalog,
                clock=clock,
            )
        except CloudperfError as exc:
            delay = backoff.next_s()
            log.warning("worker: %s; retrying in %.1f s", exc, delay)
            await _pause(stop, delay)
            continue
        backoff.reset()
        stored += len(result.ingested)
        for message_id, reason in result.failed.items():
            log.warning("worker: message %s not stored: %s", message_id, reason)
        if result.received == 0:
            await _pause(stop, WORKER_IDLE_S)
    return stored


async def run_scheduler(
    ports: TickPorts, settings: ServiceSettings, clock: Clock, stop: anyio.Event
) -> int:
    """Run a tick now and then once per ``settings.tick_s`` until ``stop``; return the count.

    Ticks are idempotent per slot, so a tick that runs twice in one slot (a restart, two
    servers on one database) issues nothing the second time.
    """
    ticks = 0
    while not stop.is_set():
        try:
            result = await run_tick(ports, settings, clock)
            ticks += 1
            log.info(
                "scheduler: slot %d: %d latency and %d discovery jobs for %d sources",
                result.slot,
                result.latency_jobs,
                result.discovery_jobs,
                len(result.sources),
            )
        except CloudperfError as exc:
            log.warning("scheduler: tick failed: %s", exc)
        now_s = clock.now_ms() / 1000
        await _pause(stop, settings.tick_s - now_s % settings.tick_s + 0.05)
    return ticks
