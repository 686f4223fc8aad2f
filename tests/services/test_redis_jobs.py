"""The Redis job queue beyond the contract: concurrent leasers on separate connections never
share a job, a lease is never sent twice, and keys stay under the prefix."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendUnavailableError, NotFoundError
from cloudperf_core.models import Job, LeasedJob, ProbeSpec
from cloudperf_core.protocol import LeaseId
from tests.contract.makers.redis import delete_prefix, fresh_prefix, redis_url
from tests.services.test_redis_faults import NO_HANG_S, FakeRedis

pytestmark = pytest.mark.services

SOURCE = "AS64500 AU Sydney, New South Wales"  # spaces, commas: any location name works
LONG = "AS4200000000 " + "Llanfairpwllgwyngyll, " * 11  # 255 characters


def job(n: int) -> Job:
    return Job(job_id=f"race-{n}", source=SOURCE, spec=ProbeSpec(targets=("127.0.0.1",), count=1))


async def test_concurrent_leasers_on_separate_connections_never_get_the_same_job() -> None:
    prefix = fresh_prefix()
    url = redis_url(prefix)
    jobs_total = 300
    got: dict[int, list[LeasedJob]] = {}
    try:
        async with Services(Config(store="memory://", jobs=url)) as issuer:
            assert await (await issuer.jobs()).issue([job(n) for n in range(jobs_total)]) == 300

        async def leaser(worker: int) -> None:
            # Each worker has its own Services, so its own connection pool.
            async with Services(Config(store="memory://", jobs=url)) as services:
                queue = await services.jobs()
                mine = got.setdefault(worker, [])
                while batch := await queue.lease(SOURCE, 3, 60):
                    mine.extend(batch)

        with anyio.fail_after(NO_HANG_S):
            async with anyio.create_task_group() as group:
                for worker in range(4):
                    group.start_soon(leaser, worker)
    finally:
        await delete_prefix(prefix)

    leased = [lj.job.job_id for batch in got.values() for lj in batch]
    assert sorted(leased) == sorted(f"race-{n}" for n in range(jobs_total))  # each exactly once
    assert sum(1 for batch in got.values() if batch) > 1, "the leasers did not overlap at all"
    lease_ids = [lj.lease_id for batch in got.values() for lj in batch]
    assert len(set(lease_ids)) == jobs_total


async def test_a_lease_whose_reply_never_comes_is_not_sent_again() -> None:
    async with (
        FakeRedis("handshake-only") as server,
        Services(Config(store="memory://", jobs=server.url())) as services,
    ):
        queue = await services.jobs()
        with anyio.fail_after(NO_HANG_S), pytest.raises(BackendUnavailableError):
            await queue.lease(SOURCE, 5, 60)
    sent = [c for c in server.commands if c not in ("CLIENT", "PING")]
    # It may have run and hidden jobs: a second lease would hide more that nobody holds.
    assert sent == ["EVALSHA"]


async def test_hostile_lease_ids_are_unknown_leases() -> None:
    prefix = fresh_prefix()
    try:
        async with Services(Config(store="memory://", jobs=redis_url(prefix))) as services:
            queue = await services.jobs()
            await queue.issue([job(1)])
            (held,) = await queue.lease(SOURCE, 1, 60)
            token, _, _ = held.lease_id.partition(".")
            for bad in ["", ".", "x" * 5000, f"{token}.{'0' * 32}", "!!.0123", "%%%." + "a" * 32,
                        held.lease_id.upper(), held.lease_id + "0"]:  # fmt: skip
                with pytest.raises(NotFoundError):
                    await queue.ack(bad)
                with pytest.raises(NotFoundError):
                    await queue.extend(bad, 10)
            await queue.ack(held.lease_id)
            assert await queue.depth(SOURCE) == 0
    finally:
        await delete_prefix(prefix)


async def test_lease_ids_fit_the_probe_protocol_whatever_the_location_name() -> None:
    prefix = fresh_prefix()
    try:
        async with Services(Config(store="memory://", jobs=redis_url(prefix))) as services:
            queue = await services.jobs()
            spec = ProbeSpec(targets=("127.0.0.1",), count=1)
            assert len(LONG) <= 255
            await queue.issue([Job(job_id="long-1", source=LONG, spec=spec)])
            (held,) = await queue.lease(LONG, 1, 60)
            # The agent echoes lease ids back: the protocol's LeaseId type must accept them.
            msgspec.convert(held.lease_id, LeaseId)
            await queue.extend(held.lease_id, 60)
            await queue.ack(held.lease_id)
            assert await queue.depth(LONG) == 0
    finally:
        await delete_prefix(prefix)
