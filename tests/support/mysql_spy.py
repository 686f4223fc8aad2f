"""Watch or interfere with the Aurora adapter's transactions from a test, without hooks in it.

Both helpers patch through ``pytest.MonkeyPatch`` (undone after the test): one wraps the
driver's ``commit`` so a test can act just before a transaction commits, the other hands every
transaction body a cursor that records the SQL it executes and the values bound to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncmy.connection
import pytest

from adapters.aurora.db import Database


def before_commit(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int], Awaitable[None]]) -> None:
    """Await ``hook(connection_id)`` before every COMMIT of an asyncmy connection.

    Reads commit too: warm the store up (its schema check) before installing this.
    """
    commit = asyncmy.connection.Connection.commit

    async def patched(conn: Any) -> None:
        await hook(conn.thread_id())
        await commit(conn)

    monkeypatch.setattr(asyncmy.connection.Connection, "commit", patched)


class _RecordingCursor:
    def __init__(self, cursor: Any, statements: list[tuple[str, Any]]) -> None:
        self._cursor = cursor
        self._statements = statements

    async def execute(self, query: str, args: Any = None) -> Any:
        self._statements.append((query, args))
        return await self._cursor.execute(query, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def record_statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """A list that receives ``(sql, args)`` of every statement a ``Database`` transaction runs."""
    statements: list[tuple[str, Any]] = []
    run = Database.run

    async def patched(self: Database, what: str, body: Any, **kwargs: Any) -> Any:
        async def recorded(cur: Any) -> Any:
            return await body(_RecordingCursor(cur, statements))

        return await run(self, what, recorded, **kwargs)

    monkeypatch.setattr(Database, "run", patched)
    return statements
