"""Users and probes as an administrator manages them."""

from __future__ import annotations

import uuid

import pytest

from adapters.memory import FakeClock, InMemoryCatalog
from cloudperf_core.auth import PasswordHasher, probe_id_of, token_matches
from cloudperf_core.catalog import Location
from cloudperf_core.errors import ConflictError, InvalidSpecError, NotFoundError
from cloudperf_core.service import directory
from cloudperf_core.settings import ServiceSettings

HASHER = PasswordHasher(
    ServiceSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
)


@pytest.fixture
async def catalog() -> InMemoryCatalog:
    cat = InMemoryCatalog()
    await cat.put_locations([Location(name="lab", country_code="AU")])
    return cat


async def test_users_are_created_once_with_a_hashed_password(catalog: InMemoryCatalog) -> None:
    user = await directory.create_user(catalog, HASHER, "ana", "a long passphrase", "operator")
    assert user.role == "operator" and "passphrase" not in user.password_hash
    assert await HASHER.verify(user.password_hash, "a long passphrase")
    with pytest.raises(ConflictError):
        await directory.create_user(catalog, HASHER, "ana", "another passphrase", "viewer")
    with pytest.raises(InvalidSpecError):
        await directory.create_user(catalog, HASHER, "bo", "a long passphrase", "root")

    await directory.set_password(catalog, HASHER, "ana", "new long passphrase")
    stored = await catalog.get_user("ana")
    assert stored is not None and await HASHER.verify(stored.password_hash, "new long passphrase")
    assert (await directory.set_role(catalog, "ana", "admin")).role == "admin"
    assert [u.name for u in await directory.list_all_users(catalog)] == ["ana"]
    await directory.delete_user(catalog, "ana")
    with pytest.raises(NotFoundError):
        await directory.delete_user(catalog, "ana")


async def test_probe_tokens_are_shown_once_and_rotate(catalog: InMemoryCatalog) -> None:
    clock = FakeClock()
    probe, token = await directory.register_probe(catalog, catalog, clock, "syd-1", "lab")
    assert probe_id_of(token) == "syd-1" and token_matches(token, probe.token_hash)
    assert probe.created_at_ms == clock.now_ms() and probe.enabled
    with pytest.raises(ConflictError):
        await directory.register_probe(catalog, catalog, clock, "syd-1", "lab")
    with pytest.raises(NotFoundError):
        await directory.register_probe(catalog, catalog, clock, "syd-2", "nowhere")
    with pytest.raises(InvalidSpecError):
        await directory.register_probe(catalog, catalog, clock, "Bad_Name", "lab")

    new = await directory.rotate_token(catalog, "syd-1")
    stored = await catalog.get_probe("syd-1")
    assert stored is not None and token_matches(new, stored.token_hash)
    assert not token_matches(token, stored.token_hash)
    assert not (await directory.set_probe_enabled(catalog, "syd-1", False)).enabled
    with pytest.raises(NotFoundError):
        await directory.rotate_token(catalog, uuid.uuid4().hex[:8])


async def test_pause_and_resume(catalog: InMemoryCatalog) -> None:
    assert (await directory.set_paused(catalog, True)).paused
    assert (await catalog.get_settings()).paused
    assert not (await directory.set_paused(catalog, False)).paused
