"""RotationCursors contract: round robin per source, atomic under concurrency, reset."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from cloudperf_core.errors import InvalidSpecError


async def test_next_cycles_through_the_modulo(cursors: Any) -> None:
    got = [await cursors.next("fra", 3) for _ in range(7)]

    assert got == [0, 1, 2, 0, 1, 2, 0]
    assert await cursors.get("fra") == 7


async def test_sources_rotate_independently(cursors: Any) -> None:
    await cursors.next("fra", 5)
    await cursors.next("fra", 5)

    assert await cursors.next("ams", 5) == 0
    assert await cursors.next("fra", 5) == 2
    assert await cursors.get("nyc") == 0


async def test_reset_starts_a_source_again(cursors: Any) -> None:
    for _ in range(4):
        await cursors.next("fra", 10)
    await cursors.next("ams", 10)

    await cursors.reset("fra")
    await cursors.reset("never-used")

    assert await cursors.get("fra") == 0
    assert await cursors.next("fra", 10) == 0
    assert await cursors.get("ams") == 1


async def _take_concurrently(cursors: Any, n: int) -> list[int]:
    """``n`` concurrent ``next`` calls on one source; the positions they got, sorted."""
    got: list[int] = []

    async def take() -> None:
        got.append(await cursors.next("fra", 1000))

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(take)
    return sorted(got)


async def test_concurrent_callers_never_get_the_same_position(cursors: Any) -> None:
    assert await _take_concurrently(cursors, 50) == list(range(50))


class _ReadThenWriteCursors:
    """A cursor store that is NOT atomic: it reads, awaits (a round trip), then writes."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def next(self, source: str, modulo: int) -> int:
        count = self.counts.get(source, 0)
        await anyio.lowlevel.checkpoint()
        self.counts[source] = count + 1
        return count % modulo


async def test_the_concurrency_check_catches_a_cursor_that_is_not_atomic() -> None:
    # The check above can fail: interleaved callers of a read-then-write cursor share
    # positions. (The in-memory fake reads and writes with no await in between, so it is
    # atomic by construction; Redis is atomic through HINCRBY.)
    got = await _take_concurrently(_ReadThenWriteCursors(), 50)
    assert got != list(range(50))
    assert len(set(got)) < 50


@pytest.mark.parametrize("modulo", [0, -1])
async def test_modulo_must_be_positive(cursors: Any, modulo: int) -> None:
    with pytest.raises(InvalidSpecError):
        await cursors.next("fra", modulo)
    assert await cursors.get("fra") == 0
