"""The loops ``cloudperf serve`` runs beside the API, over in-memory fakes: the worker stores
what is queued (a bad message goes to the dead-letter queue, the good ones are stored once)
and survives a store outage; both loops return at ``stop``."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from adapters.memory import (
    FakeClock,
    InMemoryCatalog,
    InMemoryMeasurementStore,
    InMemoryReportQueue,
)
from cloudperf_core import service
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import IngestOutcome, ReportWindows, StatsQuery
from cloudperf_core.ports import MeasurementStore
from cloudperf_core.service.background import run_scheduler, run_worker
from tests.unit.test_scheduling import SETTINGS, World
from tests.unit.test_service import make_report


async def _total_sent(store: MeasurementStore) -> int:
    groups = await service.query_stats(store, StatsQuery(), "overall")
    return sum(g.stats.sent for g in groups)


async def test_worker_stores_queued_reports_once_and_dead_letters_the_bad_one() -> None:
    queue = InMemoryReportQueue(max_receives=2)
    store = InMemoryMeasurementStore()
    good = service.encode_report(make_report("good", targets=2))
    await queue.send([good, b"not a report", good])
    stop = anyio.Event()
    stored: list[int] = []

    async def work() -> None:
        stored.append(await run_worker(queue, store, InMemoryCatalog(), FakeClock(), stop))

    async with anyio.create_task_group() as group:
        group.start_soon(work)
        with anyio.fail_after(10):
            while not await queue.dead_letters(10):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        stop.set()
    assert stored == [1]  # the second copy is a duplicate, counted once
    assert await _total_sent(store) == 2 * 4
    assert [m.body for m in await queue.dead_letters(10)] == [b"not a report"]


class _FlakyStore(InMemoryMeasurementStore):
    """Down for the first ``outages`` ingests."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        if self.outages:
            self.outages -= 1
            raise BackendUnavailableError("store down")
        return await super().ingest(batch)


async def test_worker_retries_after_a_store_outage_and_stores_once() -> None:
    queue = InMemoryReportQueue(max_receives=5)
    store = _FlakyStore(outages=2)
    await queue.send([service.encode_report(make_report("late", targets=1))])
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(run_worker, queue, store, InMemoryCatalog(), FakeClock(), stop)
        with anyio.fail_after(30):
            while await _total_sent(store) == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        stop.set()
    assert store.outages == 0
    assert await _total_sent(store) == 4
    assert await queue.dead_letters(10) == []


async def test_scheduler_loop_ticks_and_returns_at_stop() -> None:
    world = World()
    stop = anyio.Event()
    ticks: list[int] = []

    async def run() -> None:
        ticks.append(await run_scheduler(world.ports(), SETTINGS, world.clock, stop))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await anyio.sleep(0.05)
        stop.set()
    assert ticks == [1]
