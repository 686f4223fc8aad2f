"""Versioned SQL migrations for the Aurora MySQL adapter (``migrations/NNNN_*.sql`` here).

``migrate`` takes a named server lock (``GET_LOCK``) so concurrent runs apply each migration
once, applies every file whose version is not recorded yet, in version order, and records
each version in ``schema_migrations`` right after its statements. Versions are unique but may
have gaps: a migration numbered below one already applied (work merged in another order) is
applied when it arrives, and a store refuses to work while any file's version is missing.
DDL auto-commits in MySQL, so a migration cannot be transactional: every statement in a file
is written to be idempotent (``IF NOT EXISTS``, or a guarded ``ALTER``), which makes
re-running an interrupted migration safe.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

from adapters.aurora.db import Database, Tx, driver_errors, translate
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError

__all__ = [
    "SchemaGate",
    "migrate",
    "migrations",
    "missing_versions",
    "required_version",
    "schema_version",
    "versions",
]

LOCK_NAME = "cloudperf_schema_migrate"
LOCK_TIMEOUT_S = 30

CREATE_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL,
  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""
SELECT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
SELECT_VERSIONS = "SELECT version FROM schema_migrations"
INSERT_VERSION = "INSERT INTO schema_migrations (version) VALUES (%s)"
TABLE_EXISTS = (
    "SELECT COUNT(*) FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'"
)
GET_LOCK = "SELECT GET_LOCK(%s, %s)"
RELEASE_LOCK = "SELECT RELEASE_LOCK(%s)"

_FILE_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A statement ends with a semicolon at the end of a line (migration files keep to that).
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


@lru_cache(maxsize=1)
def migrations() -> tuple[tuple[int, tuple[str, ...]], ...]:
    """``(version, statements)`` of every migration file, read once, on first use."""
    found: list[tuple[int, tuple[str, ...]]] = []
    for entry in resources.files("adapters.aurora").joinpath("migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        body = _strip_comments(entry.read_text(encoding="utf-8"))
        statements = tuple(s.strip() for s in _STATEMENT_END.split(body) if s.strip())
        found.append((int(match.group(1)), statements))
    found.sort()
    numbers = [v for v, _ in found]
    if len(set(numbers)) != len(numbers) or (numbers and numbers[0] < 1):
        raise BackendConfigError(f"migration files must have distinct numbers >= 1: {numbers}")
    return tuple(found)


def versions() -> list[int]:
    """Every migration file's version, ascending."""
    return [version for version, _ in migrations()]


def required_version() -> int:
    """The highest migration file's version."""
    found = versions()
    return found[-1] if found else 0


async def _scalar(conn: Any, sql: str, args: tuple[Any, ...] = ()) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        row = await cur.fetchone()
    return row[0] if row else None


async def schema_version(db: Database) -> int:
    """The highest applied migration (0 for an empty database)."""

    async def body(cur: Tx) -> int:
        await cur.execute(TABLE_EXISTS)
        (exists,) = await cur.fetchone()
        if not exists:
            return 0
        await cur.execute(SELECT_VERSION)
        (version,) = await cur.fetchone()
        return int(version)

    return await db.run("schema version", body, write=False)


async def missing_versions(db: Database) -> list[int]:
    """The migration files' versions not recorded in the database (all for an empty one)."""

    async def body(cur: Tx) -> set[int]:
        await cur.execute(TABLE_EXISTS)
        (exists,) = await cur.fetchone()
        if not exists:
            return set()
        await cur.execute(SELECT_VERSIONS)
        return {int(row[0]) for row in await cur.fetchall()}

    recorded = await db.run("schema versions", body, write=False)
    return [version for version in versions() if version not in recorded]


async def migrate(db: Database) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call (may be empty)."""
    conn = await db.connect_raw()
    try:
        if await _scalar(conn, GET_LOCK, (LOCK_NAME, LOCK_TIMEOUT_S)) != 1:
            raise BackendUnavailableError(
                f"another `cloudperf db migrate` holds the schema lock on {db.config.redacted_url}"
            )
        try:
            if not await _scalar(conn, TABLE_EXISTS):  # IF NOT EXISTS alone logs a warning
                async with conn.cursor() as cur:
                    await cur.execute(CREATE_MIGRATIONS_TABLE)
            async with conn.cursor() as cur:
                await cur.execute(SELECT_VERSIONS)
                recorded = {int(row[0]) for row in await cur.fetchall()}
            applied: list[int] = []
            for version, statements in migrations():
                if version in recorded:
                    continue
                async with conn.cursor() as cur:
                    for statement in statements:
                        await cur.execute(statement)
                    await cur.execute(INSERT_VERSION, (version,))
                applied.append(version)
            return applied
        finally:
            await _scalar(conn, RELEASE_LOCK, (LOCK_NAME,))
    except driver_errors() as exc:
        raise translate(exc, "migrate", db.config.redacted_url) from exc
    finally:
        conn.close()


class SchemaGate:
    """Refuses work on a database that lacks any migration, checking once per gate (the store
    and its catalogue share one) until the next :meth:`migrate`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ok = False

    async def migrate(self) -> list[int]:
        applied = await migrate(self._db)
        self._ok = False
        return applied

    async def require(self) -> None:
        if self._ok:
            return
        missing = await missing_versions(self._db)
        if missing:
            raise BackendConfigError(
                f"schema version {await schema_version(self._db)} lacks migrations "
                f"{', '.join(map(str, missing))}: run "
                f"`cloudperf db migrate --store {self._db.config.redacted_url}`"
            )
        self._ok = True
