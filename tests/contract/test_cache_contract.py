"""Cache contract: get/set/delete, TTL expiry, counters."""

from __future__ import annotations

from typing import Any

from tests.contract.conftest import BackendTime

SHORT_TTL_S = 0.5
EXPIRE_WAIT_S = 0.8  # a SHORT_TTL_S TTL has certainly expired after this (Redis: PX, in ms)


async def test_get_of_a_missing_key_is_none(cache: Any) -> None:
    assert await cache.get("nothing-here") is None


async def test_set_get_overwrite_delete(cache: Any) -> None:
    await cache.set("session:ä 'x'", b"\x00\xffbinary")
    assert await cache.get("session:ä 'x'") == b"\x00\xffbinary"

    await cache.set("session:ä 'x'", b"second")
    await cache.set("other", b"")
    assert await cache.get("session:ä 'x'") == b"second"
    assert await cache.get("other") == b""

    await cache.delete("session:ä 'x'", "other", "never-set")
    assert await cache.get("session:ä 'x'") is None
    assert await cache.get("other") is None


async def test_incr_counts_from_zero(cache: Any) -> None:
    assert await cache.incr("hits") == 1
    assert await cache.incr("hits") == 2
    assert await cache.incr("hits", 5) == 7
    assert await cache.incr("hits", -10) == -3
    assert await cache.get("hits") == b"-3"
    assert await cache.incr("other", 4) == 4


async def test_values_and_counters_expire_after_their_ttl(
    cache: Any, backend_time: BackendTime
) -> None:
    await cache.set("short", b"v", ttl_s=SHORT_TTL_S)
    await cache.set("long", b"v", ttl_s=60)
    await cache.set("forever", b"v")
    assert await cache.incr("rate", ttl_s=SHORT_TTL_S) == 1
    # The TTL is set when the counter is created; later increments do not extend it.
    assert await cache.incr("rate", ttl_s=60) == 2
    assert await cache.get("short") == b"v"

    await backend_time.elapse(EXPIRE_WAIT_S)

    assert await cache.get("short") is None
    assert await cache.get("long") == b"v"
    assert await cache.get("forever") == b"v"
    assert await cache.incr("rate", ttl_s=60) == 1


async def test_set_without_ttl_clears_an_earlier_ttl(cache: Any, backend_time: BackendTime) -> None:
    await cache.set("k", b"1", ttl_s=SHORT_TTL_S)
    await cache.set("k", b"2")

    await backend_time.elapse(EXPIRE_WAIT_S)

    assert await cache.get("k") == b"2"
