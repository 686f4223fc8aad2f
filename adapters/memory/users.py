"""Users and global settings of the in-memory catalogue (:class:`InMemoryCatalog` builds on
this), and the keyset paging its lists share."""

from __future__ import annotations

from typing import TypeVar

import anyio.lowlevel

from cloudperf_core.catalog import Settings, User, check_limit, check_user

__all__ = ["InMemoryUsers", "page"]

V = TypeVar("V")


def page(items: dict[str, V], after: str | None, limit: int) -> list[V]:
    """Up to ``limit`` values, by key, of the keys greater than ``after``."""
    check_limit(limit)
    keys = sorted(k for k in items if after is None or k > after)
    return [items[k] for k in keys[:limit]]


class InMemoryUsers:
    """The users table and the settings row."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._settings = Settings()

    async def put_user(self, user: User) -> None:
        await anyio.lowlevel.checkpoint()
        check_user(user)
        self._users[user.name] = user

    async def get_user(self, name: str) -> User | None:
        await anyio.lowlevel.checkpoint()
        return self._users.get(name)

    async def list_users(self, *, after: str | None = None, limit: int = 100) -> list[User]:
        await anyio.lowlevel.checkpoint()
        return page(self._users, after, limit)

    async def delete_user(self, name: str) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._users.pop(name, None) is not None

    async def get_settings(self) -> Settings:
        await anyio.lowlevel.checkpoint()
        return self._settings

    async def put_settings(self, settings: Settings) -> None:
        await anyio.lowlevel.checkpoint()
        self._settings = settings
