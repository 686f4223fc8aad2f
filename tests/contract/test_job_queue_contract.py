"""JobQueue contract: every adapter leases, extends and acknowledges jobs the same way.

Time-dependent cases use leases of whole seconds (as SQS visibility requires); time passes
through ``backend_time``: a fake clock for the in-memory queue, a short real wait for SQS.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudperf_core.errors import NotFoundError
from cloudperf_core.models import DiscoveryJob, DiscoverySpec, Job, ProbeSpec
from tests.contract.conftest import BackendTime

LAPSE_WAIT_S = 1.5  # a 1 s lease has certainly lapsed after this


def job(n: int, source: str = "fra-1") -> Job:
    return Job(
        job_id=f"job-{n}",
        source=source,
        spec=ProbeSpec(targets=(f"127.0.0.{n % 250 + 1}", "::1"), count=3, period_ms=200),
        issued_at_ms=1_700_000_000_000 + n,
    )


async def lease_all(queue: Any, lease_s: float, expected: int) -> list[Any]:
    """Lease until ``expected`` jobs are held or the queue has none left to give."""
    held: list[Any] = []
    for _ in range(expected + 5):
        got = await queue.lease(max(1, min(10, expected - len(held))), lease_s)
        held.extend(got)
        if len(held) >= expected or not got:
            break
    return held


async def test_lease_of_an_empty_queue_returns_nothing(job_queue: Any) -> None:
    assert await job_queue.lease(10, 30) == []


async def test_issued_jobs_come_back_intact_and_ack_removes_them(job_queue: Any) -> None:
    jobs = [job(n) for n in range(3)]
    discovery = DiscoveryJob(
        job_id="disc-1", source="fra-1", spec=DiscoverySpec(start="127.0.0.0/30", max_hosts=4)
    )
    await job_queue.issue([*jobs, discovery])

    leased = await lease_all(job_queue, 30, 4)

    assert sorted((lj.job for lj in leased), key=lambda j: j.job_id) == [discovery, *jobs]
    assert all(lj.deliveries == 1 for lj in leased)
    assert len({lj.lease_id for lj in leased}) == 4
    for lj in leased:
        await job_queue.ack(lj.lease_id)
    assert await job_queue.lease(10, 30) == []


async def test_a_leased_job_is_invisible_to_a_second_lease(job_queue: Any) -> None:
    await job_queue.issue([job(1), job(2)])

    first = await job_queue.lease(1, 30)
    second = await job_queue.lease(10, 30)

    assert len(first) == 1
    assert [lj.job.job_id for lj in second] == [
        j for j in ("job-1", "job-2") if j != first[0].job.job_id
    ]
    assert await job_queue.lease(10, 30) == []


async def test_lease_expiry_is_lease_seconds_from_now(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1)])
    before_ms = backend_time.now_ms()
    (held,) = await job_queue.lease(1, 30)
    after_ms = backend_time.now_ms()
    # Generous bounds: a worker uses this to decide when to extend, so seconds matter.
    assert before_ms + 25_000 <= held.lease_expires_at_ms <= after_ms + 35_000


async def test_a_lapsed_lease_returns_the_job_and_voids_the_old_lease(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1), job(2)])
    leased = await lease_all(job_queue, 1, 2)
    assert len(leased) == 2
    kept, lapsing = sorted(leased, key=lambda lj: lj.job.job_id)
    await job_queue.extend(kept.lease_id, 30)

    await backend_time.elapse(LAPSE_WAIT_S)

    again = await job_queue.lease(10, 30)
    assert [(lj.job, lj.deliveries) for lj in again] == [(lapsing.job, 2)]
    assert again[0].lease_id != lapsing.lease_id
    with pytest.raises(NotFoundError):
        await job_queue.ack(lapsing.lease_id)
    with pytest.raises(NotFoundError):
        await job_queue.extend(lapsing.lease_id, 30)
    # The extended lease survived the wait and the fresh one is valid.
    await job_queue.ack(kept.lease_id)
    await job_queue.ack(again[0].lease_id)
    assert await job_queue.lease(10, 1) == []


async def test_ack_of_an_unknown_lease_is_not_found(job_queue: Any) -> None:
    await job_queue.issue([job(1)])
    with pytest.raises(NotFoundError):
        await job_queue.ack("no-such-lease")
    with pytest.raises(NotFoundError):
        await job_queue.extend("no-such-lease", 10)
    # The job is untouched by the failed calls.
    assert [lj.job.job_id for lj in await job_queue.lease(10, 30)] == ["job-1"]


async def test_many_jobs_are_each_delivered_once(job_queue: Any) -> None:
    await job_queue.issue([job(n) for n in range(25)])

    leased = await lease_all(job_queue, 30, 25)

    assert sorted(lj.job.job_id for lj in leased) == sorted(f"job-{n}" for n in range(25))
    assert await job_queue.lease(10, 30) == []
