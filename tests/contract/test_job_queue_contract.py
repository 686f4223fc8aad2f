"""JobQueue contract: every adapter routes jobs per source and leases, extends, acknowledges,
counts and reaps them the same way.

Time passes through ``backend_time``: a fake clock for the in-memory queue, a short real wait
for a server (leases of whole seconds there).
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudperf_core.errors import NotFoundError
from cloudperf_core.models import DiscoveryJob, DiscoverySpec, Job, LeasedJob, ProbeSpec
from tests.contract.conftest import BackendTime

LAPSE_WAIT_S = 1.5  # a 1 s lease has certainly lapsed after this
SOURCE = "fra-1"


def job(n: int, source: str = SOURCE) -> Job:
    return Job(
        job_id=f"job-{source}-{n}",
        source=source,
        spec=ProbeSpec(targets=(f"127.0.0.{n % 250 + 1}", "::1"), count=3, period_ms=200),
        issued_at_ms=1_700_000_000_000 + n,
    )


def ids(leased: list[LeasedJob]) -> list[str]:
    return [lj.job.job_id for lj in leased]


async def test_lease_of_an_empty_or_unknown_source_returns_nothing(job_queue: Any) -> None:
    assert await job_queue.lease(SOURCE, 10, 30) == []
    assert await job_queue.depth("nowhere") == 0
    assert await job_queue.reap() == 0


async def test_issued_jobs_come_back_intact_oldest_first_and_ack_removes_them(
    job_queue: Any,
) -> None:
    jobs = [job(n) for n in range(3)]
    discovery = DiscoveryJob(
        job_id="disc-1", source=SOURCE, spec=DiscoverySpec(start="127.0.0.0/30", max_hosts=4)
    )
    assert await job_queue.issue([*jobs, discovery]) == 4
    assert await job_queue.depth(SOURCE) == 4

    leased = await job_queue.lease(SOURCE, 10, 30)

    assert [lj.job for lj in leased] == [*jobs, discovery]
    assert all(lj.deliveries == 1 for lj in leased)
    assert len({lj.lease_id for lj in leased}) == 4
    assert await job_queue.depth(SOURCE) == 4  # leased jobs still count
    for lj in leased:
        await job_queue.ack(lj.lease_id)
    assert await job_queue.lease(SOURCE, 10, 30) == []
    assert await job_queue.depth(SOURCE) == 0


async def test_jobs_are_routed_to_their_source_only(job_queue: Any) -> None:
    await job_queue.issue([job(1, "fra-1"), job(2, "syd-1"), job(3, "fra-1")])

    assert ids(await job_queue.lease("syd-1", 10, 30)) == ["job-syd-1-2"]
    assert ids(await job_queue.lease("fra-1", 10, 30)) == ["job-fra-1-1", "job-fra-1-3"]
    assert await job_queue.lease("syd-1", 10, 30) == []
    assert (await job_queue.depth("fra-1"), await job_queue.depth("syd-1")) == (2, 1)


async def test_a_job_id_already_queued_or_leased_is_not_queued_again(job_queue: Any) -> None:
    assert await job_queue.issue([job(1), job(1), job(2)]) == 2
    (held,) = await job_queue.lease(SOURCE, 1, 30)
    assert await job_queue.issue([job(1), job(2), job(3)]) == 1  # only job 3 is new
    assert await job_queue.depth(SOURCE) == 3
    await job_queue.ack(held.lease_id)
    # Once acknowledged, the same id is a new job (the scheduler's next round).
    assert await job_queue.issue([held.job]) == 1


async def test_a_leased_job_is_invisible_to_a_second_lease(job_queue: Any) -> None:
    await job_queue.issue([job(1), job(2)])

    first = await job_queue.lease(SOURCE, 1, 30)
    second = await job_queue.lease(SOURCE, 10, 30)

    assert ids(first) == ["job-fra-1-1"] and ids(second) == ["job-fra-1-2"]
    assert await job_queue.lease(SOURCE, 10, 30) == []


async def test_lease_expiry_is_lease_seconds_from_now(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1)])
    before_ms = backend_time.now_ms()
    (held,) = await job_queue.lease(SOURCE, 1, 30)
    after_ms = backend_time.now_ms()
    # Generous bounds: a probe uses this to decide when to extend, so seconds matter.
    assert before_ms + 25_000 <= held.lease_expires_at_ms <= after_ms + 35_000


async def test_a_lapsed_lease_returns_the_job_and_voids_the_old_lease(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1), job(2)])
    kept, lapsing = await job_queue.lease(SOURCE, 2, 1)
    await job_queue.extend(kept.lease_id, 30)

    await backend_time.elapse(LAPSE_WAIT_S)

    again = await job_queue.lease(SOURCE, 10, 30)
    assert [(lj.job, lj.deliveries) for lj in again] == [(lapsing.job, 2)]
    assert again[0].lease_id != lapsing.lease_id
    with pytest.raises(NotFoundError):
        await job_queue.ack(lapsing.lease_id)
    with pytest.raises(NotFoundError):
        await job_queue.extend(lapsing.lease_id, 30)
    # The extended lease survived the wait and the fresh one is valid.
    await job_queue.ack(kept.lease_id)
    await job_queue.ack(again[0].lease_id)
    assert await job_queue.lease(SOURCE, 10, 1) == []


async def test_reap_returns_lapsed_jobs_of_every_source(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1, "a"), job(2, "b"), job(3, "b")])
    await job_queue.lease("a", 10, 1)
    (b_held, b_kept) = await job_queue.lease("b", 10, 1)
    await job_queue.extend(b_kept.lease_id, 30)

    await backend_time.elapse(LAPSE_WAIT_S)

    assert await job_queue.reap() == 2
    assert await job_queue.reap() == 0  # nothing lapsed twice
    assert (await job_queue.depth("a"), await job_queue.depth("b")) == (1, 2)
    assert [(lj.job.job_id, lj.deliveries) for lj in await job_queue.lease("b", 10, 30)] == [
        (b_held.job.job_id, 2)
    ]


async def test_a_job_that_keeps_lapsing_is_dropped_after_the_maximum_deliveries(
    job_queue: Any, backend_time: BackendTime
) -> None:
    await job_queue.issue([job(1)])
    deliveries = []
    for _ in range(8):
        got = await job_queue.lease(SOURCE, 1, 1)
        if not got:
            break
        deliveries.append(got[0].deliveries)
        await backend_time.elapse(LAPSE_WAIT_S)
    await job_queue.reap()
    # Every adapter's default maximum is 5 deliveries.
    assert deliveries == [1, 2, 3, 4, 5]
    assert await job_queue.depth(SOURCE) == 0


async def test_ack_of_an_unknown_lease_is_not_found(job_queue: Any) -> None:
    await job_queue.issue([job(1)])
    with pytest.raises(NotFoundError):
        await job_queue.ack("no-such-lease")
    with pytest.raises(NotFoundError):
        await job_queue.extend("no-such-lease", 10)
    # The job is untouched by the failed calls.
    assert ids(await job_queue.lease(SOURCE, 10, 30)) == ["job-fra-1-1"]


async def test_many_jobs_are_each_delivered_once(job_queue: Any) -> None:
    await job_queue.issue([job(n) for n in range(25)])

    leased: list[LeasedJob] = []
    while got := await job_queue.lease(SOURCE, 7, 30):
        leased.extend(got)

    assert sorted(ids(leased)) == sorted(f"job-fra-1-{n}" for n in range(25))
