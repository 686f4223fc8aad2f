"""The worker and the reports queue's envelope: latency and discovery reports from the API,
bare reports from `cloudperf ingest`, poison and transient failures."""

from __future__ import annotations

import msgspec
import pytest

from adapters.memory import (
    FakeClock,
    InMemoryCatalog,
    InMemoryMeasurementStore,
    InMemoryReportQueue,
)
from cloudperf_core import service
from cloudperf_core.catalog import DiscoverySweep, Location
from cloudperf_core.errors import BackendUnavailableError
from cloudperf_core.models import StatsQuery
from cloudperf_core.protocol import DiscoveryReport, QueuedDiscovery, QueuedLatency
from tests.support.lambda_events import sqs_record
from tests.support.probe_env import LAB_RANGE, discovery_job, latency_job, report_for

_json = msgspec.json.Encoder()
NOW_MS = FakeClock().now_ms()


def latency(report_id: str, source: str = "p1") -> bytes:
    report = report_for(latency_job(), report_id, started_at_ms=NOW_MS, source=source)
    return _json.encode(QueuedLatency(report=report))


def discovery(report_id: str, found: list[str]) -> bytes:
    job = discovery_job(cidr="10.231.0.0/29")
    report = DiscoveryReport(report_id=report_id, started_at_ms=NOW_MS, spec=job.spec, found=found)
    return _json.encode(QueuedDiscovery(probe_id="p1", report=report))


def bare(report_id: str) -> bytes:
    return service.encode_report(report_for(latency_job(), report_id, started_at_ms=NOW_MS))


async def _catalog() -> InMemoryCatalog:
    catalog = InMemoryCatalog()
    await catalog.put_locations([Location(name="lab")])
    await catalog.put_ranges([LAB_RANGE])
    return catalog


async def _sent(store: InMemoryMeasurementStore) -> int:
    groups = await service.query_stats(store, StatsQuery(), "overall")
    return groups[0].stats.sent if groups else 0


async def test_latency_discovery_and_bare_reports_share_one_batch() -> None:
    queue, store, catalog = InMemoryReportQueue(), InMemoryMeasurementStore(), await _catalog()
    await queue.send(
        [
            latency("p1:a"),
            discovery("p1:s", ["10.231.0.3"]),
            bare("b"),
            discovery("p1:s", ["10.231.0.3"]),
        ]
    )

    result = await service.process_report_batch(queue, store, catalog=catalog, clock=FakeClock())

    assert sorted(result.ingested) == ["b", "p1:a", "p1:s"]
    assert result.duplicates == ["p1:s"] and not result.failed
    assert await _sent(store) == 2 * (2 * 4)
    assert [a.address for a in await catalog.reachable_addresses("lab")] == ["10.231.0.3"]
    assert await queue.receive(10, 30) == []  # everything acknowledged


async def test_undecodable_envelopes_dead_letter_after_the_maximum_receives() -> None:
    queue, store, catalog = (
        InMemoryReportQueue(max_receives=2),
        InMemoryMeasurementStore(),
        await _catalog(),
    )
    poison = [
        b'{"kind": "latency", "report": {"report_id": "x"}}',  # a report missing its fields
        b'{"kind": "weather", "report": {}}',  # no such kind
        b'{"kind": 7}',
        b"[1, 2]",
        discovery("p1:far", ["10.231.0.99"]),  # outside its range: the catalogue refuses it
        discovery("bad id", []),
    ]
    await queue.send([latency("p1:ok"), *poison])

    first = await service.process_report_batch(queue, store, catalog=catalog, clock=FakeClock())

    assert first.ingested == ["p1:ok"] and len(first.failed) == len(poison)
    for _ in range(2):
        again = await service.process_report_batch(queue, store, catalog=catalog, clock=FakeClock())
        assert again.ingested == []
    assert sorted(m.body for m in await queue.dead_letters(10)) == sorted(poison)
    assert await _sent(store) == 2 * 4


async def test_a_discovery_report_needs_a_worker_with_a_catalogue() -> None:
    queue, store = InMemoryReportQueue(), InMemoryMeasurementStore()
    await queue.send([discovery("p1:s", ["10.231.0.1"]), latency("p1:a")])

    result = await service.process_report_batch(queue, store, clock=FakeClock())

    assert result.ingested == ["p1:a"]
    assert "no catalogue" in next(iter(result.failed.values()))


class _FlakyCatalog(InMemoryCatalog):
    down = True

    async def record_sweep(self, sweep: DiscoverySweep) -> bool:
        if self.down:
            raise BackendUnavailableError("catalogue connection lost")
        return await super().record_sweep(sweep)


async def test_a_transient_catalogue_error_fails_the_batch_and_a_retry_stores_it_once() -> None:
    queue, store = InMemoryReportQueue(max_receives=5), InMemoryMeasurementStore()
    catalog = _FlakyCatalog()
    await catalog.put_locations([Location(name="lab")])
    await catalog.put_ranges([LAB_RANGE])
    await queue.send([latency("p1:a"), discovery("p1:s", ["10.231.0.4"]), latency("p1:b")])

    with pytest.raises(BackendUnavailableError):
        await service.process_report_batch(queue, store, catalog=catalog, clock=FakeClock())
    back = await queue.receive(10, 30)
    assert len(back) == 3 and all(m.deliveries == 2 for m in back)  # released, not acked
    await queue.release([m.receipt for m in back])

    catalog.down = False
    result = await service.process_report_batch(queue, store, catalog=catalog, clock=FakeClock())

    # The latency reports were stored by the failed attempt: now they are duplicates.
    assert result.ingested == ["p1:s"] and sorted(result.duplicates) == ["p1:a", "p1:b"]
    assert await _sent(store) == 2 * (2 * 4)
    [address] = await catalog.reachable_addresses("lab")
    assert address.address == "10.231.0.4" and address.history == 0b1000  # aged once


async def test_pushed_sqs_records_carry_envelopes_too() -> None:
    store, catalog = InMemoryMeasurementStore(), await _catalog()
    records = [
        sqs_record("m-1", latency("p1:a")),
        sqs_record("m-2", discovery("p1:s", ["10.231.0.6"])),
        sqs_record("m-3", b'{"kind": "latency"}'),
    ]

    result = await service.ingest_sqs_records(store, records, catalog=catalog, clock=FakeClock())

    assert sorted(result.ingested) == ["p1:a", "p1:s"]
    assert result.failed_message_ids == ["m-3"]
