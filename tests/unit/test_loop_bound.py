"""LoopBound: one driver client per event loop, made on first use there, closed on its loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapters._loop import LoopBound
from cloudperf_core.errors import BackendConfigError


class Client:
    def __init__(self, n: int) -> None:
        self.n = n
        self.loop = asyncio.get_running_loop()
        self.closed_on: asyncio.AbstractEventLoop | None = None


class Clients:
    """A fake driver: ``make`` records the loop each client belongs to, ``close`` where it ran."""

    def __init__(self) -> None:
        self.made: list[Client] = []
        self.holder: LoopBound[Client] = LoopBound(self.make, self.close)

    async def make(self) -> Client:
        await asyncio.sleep(0)  # concurrent first uses interleave here
        client = Client(len(self.made))
        self.made.append(client)
        return client

    async def close(self, client: Client) -> None:
        client.closed_on = asyncio.get_running_loop()


def test_each_new_loop_gets_its_own_client_and_a_loop_reuses_its_own() -> None:
    clients = Clients()

    async def invocation() -> tuple[Client, Client]:
        return await clients.holder.get(), await clients.holder.get()

    first = asyncio.run(invocation())
    second = asyncio.run(invocation())
    assert first[0] is first[1] and second[0] is second[1]
    assert first[0] is not second[0]
    assert first[0].loop is not second[0].loop
    assert clients.holder.made == 2


def test_a_client_is_closed_on_its_own_loop_when_asyncio_run_ends() -> None:
    clients = Clients()
    client = asyncio.run(clients.holder.get())
    assert client.closed_on is client.loop  # closed while its loop still ran
    assert asyncio.run(clients.holder.get()) is not client


def test_a_loop_closed_without_finalizing_drops_its_client_quietly() -> None:
    clients = Clients()
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(clients.holder.get())
    loop.close()  # no shutdown_asyncgens: the client can no longer be closed
    replacement = asyncio.run(clients.holder.get())
    assert replacement is not client
    assert client.closed_on is None


async def test_concurrent_first_uses_in_one_loop_make_one_client() -> None:
    clients = Clients()
    got = await asyncio.gather(*(clients.holder.get() for _ in range(5)))
    assert len({id(c) for c in got}) == 1
    assert len(clients.made) == 1


async def test_aclose_closes_the_client_on_its_own_loop_and_the_next_use_makes_a_new_one() -> None:
    clients = Clients()
    first = await clients.holder.get()
    await clients.holder.aclose()
    assert first.closed_on is asyncio.get_running_loop()
    assert await clients.holder.get() is not first


def test_a_client_of_a_loop_still_running_elsewhere_is_closed_on_that_loop() -> None:
    clients = Clients()
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        old = asyncio.run_coroutine_threadsafe(clients.holder.get(), other).result(10)
        new = asyncio.run(clients.holder.get())
        assert new is not old
        for _ in range(100):  # the close was handed to the other loop
            if old.closed_on is not None:
                break
            threading.Event().wait(0.01)
        assert old.closed_on is other
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()


def test_without_a_running_loop_the_error_says_so() -> None:
    with pytest.raises(BackendConfigError, match="event loop"):
        Clients().holder.current()
