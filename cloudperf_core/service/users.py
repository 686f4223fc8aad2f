"""Users as they sign in and out: login (rate-limited), logout, password changes, and the
user administration the API offers on top of :mod:`cloudperf_core.service.directory`.

- Login verifies the argon2id hash off the event loop; an unknown user is verified against a
  dummy hash, so the time taken does not tell whether the name exists. A hash made with other
  parameters than today's is replaced on the next successful login.
- Failures are counted per user name and per client address (RateCounters
  ``login_failures:user:<name>`` / ``login_failures:addr:<address>``) over a sliding
  ``settings.login_window_s``; at the limit, logins are refused with
  :class:`RateLimitedError` (HTTP 429) *before* any hash is computed. A password change
  checks the old password under the same limits, counted per user apart from logins
  (``password_failures:user:<name>``): someone failing logins with a user's name cannot
  keep that user from changing their password, while a stolen session cannot be used to
  guess the password quickly.
- A session is ``cps_<256 random bits>``, stored under its SHA-256 for
  ``settings.session_ttl_s``. Changing or resetting a password, and deleting or creating a
  user, ends every older session of that name: the cache holds a per-user floor
  (``session_floor:<name>``) and a session created before it no longer authenticates. The
  floor is read from the session store's own clock (the one that stamps sessions).
- No password or token is ever logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import msgspec

from cloudperf_core.auth import PasswordHasher, mint_session_token, role_allows, token_hash
from cloudperf_core.catalog import Role, User
from cloudperf_core.clock import MINUTE_MS, minute_start_ms
from cloudperf_core.errors import (
    AuthError,
    ConflictError,
    InvalidSpecError,
    RateLimitedError,
    WrongPasswordError,
)
from cloudperf_core.models import Session
from cloudperf_core.ports import Cache, Clock, Directory, RateCounters, SessionStore
from cloudperf_core.service import directory as admin
from cloudperf_core.settings import ServiceSettings

__all__ = [
    "Accounts",
    "change_password",
    "create_user",
    "delete_user",
    "login",
    "logout",
    "reset_password",
    "session_is_current",
    "set_role",
]

log = logging.getLogger(__name__)
_FLOOR = "session_floor:"
_WRONG = "wrong user name or password"


@dataclass(frozen=True)
class Accounts:
    """The ports and settings the user use-cases work on."""

    directory: Directory
    sessions: SessionStore
    counters: RateCounters
    cache: Cache
    hasher: PasswordHasher
    settings: ServiceSettings
    clock: Clock


# --- rate limits ----------------------------------------------------------------------------


def _failure_counters(name: str, address: str, what: str) -> tuple[str, str]:
    return f"{what}_failures:user:{name}", f"login_failures:addr:{address}"


async def _refuse_if_limited(
    accounts: Accounts, name: str, address: str, what: str = "login"
) -> None:
    """RateLimitedError if the user or the address is at its failure limit."""
    s, now_ms = accounts.settings, accounts.clock.now_ms()
    window_ms = s.login_window_s * 1000
    since_ms = minute_start_ms(now_ms - window_ms)
    limits = (s.login_failures_per_user, s.login_failures_per_address)
    for key, limit in zip(_failure_counters(name, address, what), limits, strict=True):
        minutes = await accounts.counters.per_minute(key, since_ms, now_ms + 1)
        total = sum(count for _, count in minutes)
        if total < limit:
            continue
        # The oldest minutes must leave the window until fewer than ``limit`` remain.
        for minute_ms, count in minutes:
            total -= count
            if total < limit:
                retry_ms = minute_ms + MINUTE_MS + window_ms - now_ms
                raise RateLimitedError(
                    "too many failed attempts; try again later", max(1, math.ceil(retry_ms / 1000))
                )


async def _count_failure(accounts: Accounts, name: str, address: str, what: str = "login") -> None:
    now_ms = accounts.clock.now_ms()
    for key in _failure_counters(name, address, what):
        await accounts.counters.hit(key, now_ms)


# --- sessions -------------------------------------------------------------------------------


async def _new_session(accounts: Accounts, user: User) -> tuple[str, Session]:
    token = mint_session_token()
    ttl_s = accounts.settings.session_ttl_s
    session = await accounts.sessions.create(token_hash(token), user.name, user.role, ttl_s)
    return token, session


async def _set_floor(accounts: Accounts, name: str, floor_ms: int | None = None) -> None:
    """Sessions of ``name`` created before ``floor_ms`` (default: now on the session
    store's clock) stop authenticating."""
    if floor_ms is None:
        probe = await accounts.sessions.create(token_hash(mint_session_token()), name, "viewer", 1)
        await accounts.sessions.revoke(probe.token_hash)
        floor_ms = probe.created_at_ms
    # Kept as long as any older session could live; after that they have expired anyway.
    ttl_s = accounts.settings.session_ttl_s + 60
    await accounts.cache.set(_FLOOR + name, str(floor_ms).encode(), ttl_s)


async def session_is_current(cache: Cache, session: Session) -> bool:
    """False if the session predates its user's latest password change or re-creation."""
    raw = await cache.get(_FLOOR + session.user)
    return raw is None or session.created_at_ms >= int(raw)


# --- use-cases ------------------------------------------------------------------------------


async def login(accounts: Accounts, name: str, password: str, address: str) -> tuple[str, Session]:
    """A new session ``(token, session)`` for the user; AuthError if the name or password
    is wrong, RateLimitedError at the failure limit (checked before hashing anything)."""
    await _refuse_if_limited(accounts, name, address)
    user = await accounts.directory.get_user(name)
    stored = None if user is None else user.password_hash
    if user is None or not await accounts.hasher.verify(stored, password):
        await _count_failure(accounts, name, address)
        # The name only when it exists: a password typed into the name field stays out.
        log.warning("login failed from %s%s", address, f" for user {name!r}" if user else "")
        raise AuthError(_WRONG)
    if accounts.hasher.needs_rehash(user.password_hash):
        try:
            rehashed = await accounts.hasher.hash(password)
        except InvalidSpecError:
            log.info("kept the old hash of user %r: the password fails today's rules", name)
        else:
            user = msgspec.structs.replace(user, password_hash=rehashed)
            await accounts.directory.put_user(user)
    token, session = await _new_session(accounts, user)
    log.info("user %r logged in from %s", name, address)
    return token, session


async def logout(accounts: Accounts, token: str) -> None:
    """End the session of ``token`` (nothing happens if there is none)."""
    await accounts.sessions.revoke(token_hash(token))


async def change_password(
    accounts: Accounts, session: Session, token: str, old: str, new: str, address: str
) -> tuple[str, Session]:
    """Set a new password after checking the old one; every session of the user ends,
    this one included, and a new session is returned in its place."""
    await _refuse_if_limited(accounts, session.user, address, "password")
    user = await accounts.directory.get_user(session.user)
    if user is None or not await accounts.hasher.verify(user.password_hash, old):
        await _count_failure(accounts, session.user, address, "password")
        raise WrongPasswordError("the current password is wrong")
    hashed = await accounts.hasher.hash(new)
    await accounts.directory.put_user(msgspec.structs.replace(user, password_hash=hashed))
    await accounts.sessions.revoke(token_hash(token))
    new_token, new_session = await _new_session(accounts, user)
    await _set_floor(accounts, user.name, new_session.created_at_ms)
    log.info("user %r changed their password; older sessions ended", user.name)
    return new_token, new_session


async def reset_password(accounts: Accounts, name: str, password: str) -> None:
    """An administrator sets the user's password; every session of the user ends."""
    await admin.set_password(accounts.directory, accounts.hasher, name, password)
    await _set_floor(accounts, name)
    log.info("password of user %r reset; their sessions ended", name)


async def create_user(accounts: Accounts, name: str, password: str, role: str) -> User:
    """A new user; sessions left over from an earlier user of that name do not carry over."""
    user = await admin.create_user(accounts.directory, accounts.hasher, name, password, role)
    await _set_floor(accounts, name)
    return user


async def _other_admins(accounts: Accounts, name: str) -> int:
    users = await admin.list_all_users(accounts.directory)
    return sum(u.role == "admin" and u.name != name for u in users)


async def set_role(accounts: Accounts, name: str, role: Role) -> User:
    """Change the user's role (effective at their next request); the last administrator
    cannot be demoted (ConflictError)."""
    if not role_allows(role, "admin") and not await _other_admins(accounts, name):
        current = await accounts.directory.get_user(name)
        if current is not None and current.role == "admin":
            raise ConflictError("the last administrator cannot be demoted")
    return await admin.set_role(accounts.directory, name, role)


async def delete_user(accounts: Accounts, name: str) -> None:
    """Remove the user and end their sessions; never the last administrator."""
    current = await accounts.directory.get_user(name)
    if current is not None and current.role == "admin" and not await _other_admins(accounts, name):
        raise ConflictError("the last administrator cannot be deleted")
    await admin.delete_user(accounts.directory, name)
    await _set_floor(accounts, name)
