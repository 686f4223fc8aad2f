"""Passwords, tokens and roles: the security rules the API and the admin commands share.

- Passwords are argon2id hashes (argon2-cffi), verified off the event loop.
- Probe tokens are ``cpp_<probe_id>_<secret>`` with 256 random bits; only their SHA-256 is
  stored, found through the probe id the token names, compared in constant time.
- Session tokens are ``cps_<secret>``; the session store is keyed by their SHA-256.
- Roles are ordered: viewer < operator < admin.

>>> token = mint_probe_token("syd-1")
>>> probe_id_of(token), len(token) > 40
('syd-1', True)
>>> token_matches(token, token_hash(token))
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import anyio.to_thread
from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloudperf_core.catalog import ROLES, Role
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.settings import ServiceSettings

PROBE_TOKEN_PREFIX = "cpp_"  # noqa: S105 (a prefix, not a secret)
SESSION_TOKEN_PREFIX = "cps_"  # noqa: S105
TOKEN_BYTES = 32  # 256 random bits
PROBE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MIN_PASSWORD_LEN = 10
MAX_PASSWORD_LEN = 1024
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_allows(role: str, minimum: Role) -> bool:
    """Whether ``role`` is at least ``minimum`` (an unknown role allows nothing)."""
    rank = _RANK.get(role)  # type: ignore[call-overload]
    return rank is not None and rank >= _RANK[minimum]


def check_probe_id(probe_id: str) -> str:
    if not PROBE_ID_RE.match(probe_id):
        raise InvalidSpecError(
            "a probe name is 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return probe_id


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token: what is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def mint_probe_token(probe_id: str) -> str:
    """A new bearer token for ``probe_id``, shown once; store only :func:`token_hash`."""
    return f"{PROBE_TOKEN_PREFIX}{check_probe_id(probe_id)}_{secrets.token_urlsafe(TOKEN_BYTES)}"


def probe_id_of(token: str) -> str | None:
    """The probe id a probe token names, or ``None`` if it is not shaped like one."""
    if not token.startswith(PROBE_TOKEN_PREFIX):
        return None
    # Probe ids have no "_", the base64url secret may: split at the first one.
    probe_id, sep, secret = token[len(PROBE_TOKEN_PREFIX) :].partition("_")
    if not sep or not PROBE_ID_RE.match(probe_id) or not _SECRET_RE.match(secret):
        return None
    return probe_id


def mint_session_token() -> str:
    return f"{SESSION_TOKEN_PREFIX}{secrets.token_urlsafe(TOKEN_BYTES)}"


def looks_like_session_token(token: str) -> bool:
    secret = token[len(SESSION_TOKEN_PREFIX) :]
    return token.startswith(SESSION_TOKEN_PREFIX) and bool(_SECRET_RE.match(secret))


def check_password_strength(password: str) -> None:
    if not MIN_PASSWORD_LEN <= len(password) <= MAX_PASSWORD_LEN:
        raise InvalidSpecError(
            f"a password needs {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"
        )


class PasswordHasher:
    """argon2id hashing with the configured cost; the CPU work runs in a worker thread."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        s = settings or ServiceSettings()
        self._hasher = _Argon2(
            time_cost=s.argon2_time_cost,
            memory_cost=s.argon2_memory_kib,
            parallelism=s.argon2_parallelism,
            type=Type.ID,
        )
        # Verified against when a user does not exist, so both paths cost the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        check_password_strength(password)
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored_hash`` (``None``: an unknown user, False)."""
        if len(password) > MAX_PASSWORD_LEN:
            return False
        target = stored_hash if stored_hash is not None else self._dummy
        try:
            ok = await anyio.to_thread.run_sync(self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
