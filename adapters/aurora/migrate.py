"""Versioned SQL migrations for the Aurora MySQL adapter (``migrations/NNNN_*.sql`` here).

``migrate`` takes a named server lock (``GET_LOCK``) so concurrent runs apply each migration
once, applies every file whose version is above the highest recorded one, and records each
version in ``schema_migrations`` right after its statements. DDL auto-commits in MySQL, so a
migration cannot be transactional: every statement in a file is written to be idempotent
(``IF NOT EXISTS``), which makes re-running an interrupted migration safe.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

from adapters.aurora.db import Database, Tx, driver_errors, translate
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError

__all__ = ["MIGRATIONS", "REQUIRED_VERSION", "SchemaGate", "migrate", "schema_version"]

LOCK_NAME = "cloudperf_schema_migrate"
LOCK_TIMEOUT_S = 30

CREATE_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL,
  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""
SELECT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
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
def _load() -> tuple[tuple[int, tuple[str, ...]], ...]:
    found: list[tuple[int, tuple[str, ...]]] = []
    for entry in resources.files("adapters.aurora").joinpath("migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        body = _strip_comments(entry.read_text(encoding="utf-8"))
        statements = tuple(s.strip() for s in _STATEMENT_END.split(body) if s.strip())
        found.append((int(match.group(1)), statements))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise BackendConfigError(f"migration files must be numbered 1..N, found {versions}")
    return tuple(found)


MIGRATIONS = _load()
REQUIRED_VERSION = MIGRATIONS[-1][0] if MIGRATIONS else 0


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
            current = int(await _scalar(conn, SELECT_VERSION))
            applied: list[int] = []
            for version, statements in MIGRATIONS:
                if version <= current:
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
    """Refuses work on a database below :data:`REQUIRED_VERSION`, checking once per gate
    (the store and its catalogue share one) until the next :meth:`migrate`."""

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
        version = await schema_version(self._db)
        if version < REQUIRED_VERSION:
            raise BackendConfigError(
                f"schema version {version} < required {REQUIRED_VERSION}: run "
                f"`cloudperf db migrate --store {self._db.config.redacted_url}`"
            )
        self._ok = True
