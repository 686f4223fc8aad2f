"""LivenessTracker contract: last seen per probe, never moving back; who is alive; pruning."""

from __future__ import annotations

from typing import Any

T0_MS = 1_700_000_000_000


async def test_last_seen_reports_only_known_probes(liveness: Any) -> None:
    await liveness.seen("fra-1", T0_MS)
    await liveness.seen("ams-1", T0_MS + 500)

    assert await liveness.last_seen(["fra-1", "ams-1", "nyc-1"]) == {
        "fra-1": T0_MS,
        "ams-1": T0_MS + 500,
    }
    assert await liveness.last_seen([]) == {}


async def test_last_seen_moves_forward_only(liveness: Any) -> None:
    await liveness.seen("fra-1", T0_MS + 1000)
    await liveness.seen("fra-1", T0_MS)  # a late, older heartbeat
    assert await liveness.last_seen(["fra-1"]) == {"fra-1": T0_MS + 1000}

    await liveness.seen("fra-1", T0_MS + 2000)
    assert await liveness.last_seen(["fra-1"]) == {"fra-1": T0_MS + 2000}


async def test_alive_since_is_inclusive_and_sorted(liveness: Any) -> None:
    await liveness.seen("zrh-1", T0_MS + 300)
    await liveness.seen("ams-1", T0_MS + 200)
    await liveness.seen("old-1", T0_MS - 1)

    assert await liveness.alive_since(T0_MS) == ["ams-1", "zrh-1"]
    assert await liveness.alive_since(T0_MS + 300) == ["zrh-1"]
    assert await liveness.alive_since(T0_MS + 301) == []


async def test_forget_drops_probes_not_seen_since(liveness: Any) -> None:
    await liveness.seen("old-1", T0_MS - 10)
    await liveness.seen("old-2", T0_MS - 1)
    await liveness.seen("new-1", T0_MS)

    assert await liveness.forget(T0_MS) == 2

    assert await liveness.last_seen(["old-1", "old-2", "new-1"]) == {"new-1": T0_MS}
    assert await liveness.alive_since(0) == ["new-1"]
