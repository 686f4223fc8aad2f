"""Tokens, roles and password hashing."""

from __future__ import annotations

import pytest

from cloudperf_core.auth import (
    PasswordHasher,
    check_probe_id,
    looks_like_session_token,
    mint_probe_token,
    mint_session_token,
    probe_id_of,
    role_allows,
    token_hash,
    token_matches,
)
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.settings import ServiceSettings


def test_probe_tokens_name_their_probe_and_carry_256_bits() -> None:
    a, b = mint_probe_token("syd-1"), mint_probe_token("syd-1")
    assert a != b and probe_id_of(a) == "syd-1"
    secret = a.split("_", 2)[2]
    assert len(secret) == 43  # 32 bytes, base64url without padding
    assert token_matches(a, token_hash(a)) and not token_matches(b, token_hash(a))
    assert len(token_hash(a)) == 64 and a not in token_hash(a)


@pytest.mark.parametrize(
    "token",
    ["", "cpp_", "cpp_syd-1", "cpp_syd-1_short", "cps_" + "a" * 43, "cpp_Bad_" + "a" * 43],
)
def test_malformed_probe_tokens_name_no_probe(token: str) -> None:
    assert probe_id_of(token) is None


def test_probe_ids_are_restricted() -> None:
    assert check_probe_id("a-1") == "a-1"
    for bad in ("", "-a", "A", "a_b", "a" * 64, "a/b", "a b"):
        with pytest.raises(InvalidSpecError):
            check_probe_id(bad)


def test_session_tokens() -> None:
    token = mint_session_token()
    assert looks_like_session_token(token) and not looks_like_session_token(token[:-1])
    assert not looks_like_session_token(mint_probe_token("x"))


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "viewer") and role_allows("operator", "operator")
    assert not role_allows("viewer", "operator") and not role_allows("root", "viewer")


async def test_password_hashing_is_argon2id_with_a_salt() -> None:
    hasher = PasswordHasher(
        ServiceSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
    )
    h1, h2 = await hasher.hash("correct horse"), await hasher.hash("correct horse")
    assert h1.startswith("$argon2id$") and h1 != h2  # per-hash salt
    assert await hasher.verify(h1, "correct horse")
    assert not await hasher.verify(h1, "wrong horse!")
    assert not await hasher.verify(None, "correct horse")  # unknown user
    assert not await hasher.verify("not-a-hash", "correct horse")
    with pytest.raises(InvalidSpecError):
        await hasher.hash("short")
    assert hasher.needs_rehash("garbage")
