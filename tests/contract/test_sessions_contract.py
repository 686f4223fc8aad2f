"""SessionStore contract: create/get/revoke by token hash, expiry, validation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.models import Session
from tests.contract.conftest import BackendTime

SHORT_TTL_S = 0.5
EXPIRE_WAIT_S = 0.8  # a SHORT_TTL_S session has certainly expired after this


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_created_session_is_found_by_its_token_hash(sessions: Any) -> None:
    created = await sessions.create(_hash("tok-a"), "alice", "admin", ttl_s=60)

    found = await sessions.get(_hash("tok-a"))

    assert isinstance(found, Session)
    assert found == created
    assert (found.user, found.role, found.token_hash) == ("alice", "admin", _hash("tok-a"))
    assert found.expires_at_ms - found.created_at_ms == 60_000


async def test_unknown_token_has_no_session(sessions: Any) -> None:
    await sessions.create(_hash("tok-a"), "alice", "admin", ttl_s=60)
    assert await sessions.get(_hash("tok-b")) is None


async def test_revoke_ends_only_that_session(sessions: Any) -> None:
    await sessions.create(_hash("a"), "alice", "admin", ttl_s=60)
    await sessions.create(_hash("b"), "bob", "viewer", ttl_s=60)

    await sessions.revoke(_hash("a"))
    await sessions.revoke(_hash("never-existed"))

    assert await sessions.get(_hash("a")) is None
    found = await sessions.get(_hash("b"))
    assert found is not None and found.user == "bob"


async def test_create_again_replaces_the_session(sessions: Any) -> None:
    await sessions.create(_hash("a"), "alice", "viewer", ttl_s=60)
    await sessions.create(_hash("a"), "alice", "admin", ttl_s=120)

    found = await sessions.get(_hash("a"))

    assert found is not None and found.role == "admin"
    assert found.expires_at_ms - found.created_at_ms == 120_000


async def test_session_expires_after_its_ttl(sessions: Any, backend_time: BackendTime) -> None:
    await sessions.create(_hash("short"), "alice", "admin", ttl_s=SHORT_TTL_S)
    await sessions.create(_hash("long"), "bob", "admin", ttl_s=60)
    assert await sessions.get(_hash("short")) is not None

    await backend_time.elapse(EXPIRE_WAIT_S)

    assert await sessions.get(_hash("short")) is None
    assert await sessions.get(_hash("long")) is not None


@pytest.mark.parametrize("ttl_s", [0, -5])
async def test_a_session_needs_a_positive_ttl(sessions: Any, ttl_s: float) -> None:
    with pytest.raises(InvalidSpecError):
        await sessions.create(_hash("a"), "alice", "admin", ttl_s=ttl_s)
    assert await sessions.get(_hash("a")) is None
