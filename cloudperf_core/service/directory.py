"""Users and probes as an administrator manages them (CLI, admin Lambda, admin API).

Secrets never leave here unhashed except the one time they are made: a probe token is
returned once by :func:`register_probe` / :func:`rotate_token` and only its SHA-256 is
stored; passwords are stored as argon2id hashes.
"""

from __future__ import annotations

import msgspec

from cloudperf_core.auth import PasswordHasher, check_probe_id, mint_probe_token, token_hash
from cloudperf_core.catalog import MAX_PAGE, ROLES, Probe, Role, Settings, User
from cloudperf_core.errors import ConflictError, InvalidSpecError, NotFoundError
from cloudperf_core.ports import Clock, Directory, Places, SessionStore

__all__ = [
    "create_user",
    "delete_user",
    "list_all_users",
    "register_probe",
    "revoke_session",
    "rotate_token",
    "set_password",
    "set_paused",
    "set_probe_enabled",
    "set_role",
]


def _role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidSpecError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


async def create_user(
    directory: Directory, hasher: PasswordHasher, name: str, password: str, role: str
) -> User:
    """A new user (ConflictError if the name is taken)."""
    if await directory.get_user(name) is not None:
        raise ConflictError(f"a user named {name!r} exists")
    user = User(name=name, password_hash=await hasher.hash(password), role=_role(role))
    await directory.put_user(user)
    return user


async def _user(directory: Directory, name: str) -> User:
    user = await directory.get_user(name)
    if user is None:
        raise NotFoundError(f"no user named {name!r}")
    return user


async def set_password(
    directory: Directory, hasher: PasswordHasher, name: str, password: str
) -> None:
    user = await _user(directory, name)
    hashed = await hasher.hash(password)
    await directory.put_user(msgspec.structs.replace(user, password_hash=hashed))


async def set_role(directory: Directory, name: str, role: str) -> User:
    user = msgspec.structs.replace(await _user(directory, name), role=_role(role))
    await directory.put_user(user)
    return user


async def delete_user(directory: Directory, name: str) -> None:
    """Remove the user; sessions of a deleted user stop working at their next request."""
    if not await directory.delete_user(name):
        raise NotFoundError(f"no user named {name!r}")


async def register_probe(
    directory: Directory, places: Places, clock: Clock, name: str, location: str
) -> tuple[Probe, str]:
    """A new probe at ``location`` and its token (returned once, stored hashed)."""
    check_probe_id(name)
    if await directory.get_probe(name) is not None:
        raise ConflictError(f"a probe named {name!r} exists (rotate its token instead)")
    if await places.get_location(location) is None:
        raise NotFoundError(f"no location named {location!r} in the catalogue")
    token = mint_probe_token(name)
    probe = Probe(
        probe_id=name,
        token_hash=token_hash(token),
        name=name,
        location=location,
        enabled=True,
        created_at_ms=clock.now_ms(),
    )
    await directory.put_probe(probe)
    return probe, token


async def _probe(directory: Directory, name: str) -> Probe:
    probe = await directory.get_probe(name)
    if probe is None:
        raise NotFoundError(f"no probe named {name!r}")
    return probe


async def rotate_token(directory: Directory, name: str) -> str:
    """A new token for the probe; the old one stops working at once."""
    probe = await _probe(directory, name)
    token = mint_probe_token(probe.probe_id)
    await directory.put_probe(msgspec.structs.replace(probe, token_hash=token_hash(token)))
    return token


async def set_probe_enabled(directory: Directory, name: str, enabled: bool) -> Probe:
    probe = msgspec.structs.replace(await _probe(directory, name), enabled=enabled)
    await directory.put_probe(probe)
    return probe


async def set_paused(directory: Directory, paused: bool) -> Settings:
    """Pause (no new jobs, polls answer none) or resume the whole system."""
    settings = msgspec.structs.replace(await directory.get_settings(), paused=paused)
    await directory.put_settings(settings)
    return settings


async def revoke_session(sessions: SessionStore, token: str) -> None:
    await sessions.revoke(token_hash(token))


async def list_all_users(directory: Directory) -> list[User]:
    users: list[User] = []
    while page := await directory.list_users(
        after=users[-1].name if users else None, limit=MAX_PAGE
    ):
        users.extend(page)
        if len(page) < MAX_PAGE:
            break
    return users
