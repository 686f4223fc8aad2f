"""The embedded SQLite backend (``sqlite://``): measurement store and catalogue in one file.

URLs (decided here, documented in ``open_backend``):

- ``sqlite:///abs/path.db`` and ``sqlite:////abs/path.db`` -> the absolute path ``/abs/path.db``
- ``sqlite:relative/path.db`` -> a path relative to the working directory
- ``sqlite://:memory:`` -> a private in-memory database (gone on close)

``db`` (connection, worker thread, errors), ``schema`` (migrations), ``store``
(MeasurementStore), ``catalog`` (Catalog) with ``catalog_sql`` (its statements).
"""

from __future__ import annotations

from adapters.sqlite.catalog import SqliteCatalog
from adapters.sqlite.db import SqliteDatabase, path_from_url
from adapters.sqlite.schema import SCHEMA_VERSION
from adapters.sqlite.spool import SqliteReportSpool
from adapters.sqlite.store import SqliteMeasurementStore
from cloudperf_core.backends import SharedResources
from cloudperf_core.errors import BackendConfigError

__all__ = [
    "SCHEMA_VERSION",
    "SqliteCatalog",
    "SqliteMeasurementStore",
    "SqliteReportSpool",
    "open_backend",
    "path_from_url",
]


async def open_backend(url: str, port: str, *, shared: SharedResources | None = None) -> object:
    """``sqlite:///abs/path.db``, ``sqlite:relative.db`` or ``sqlite://:memory:`` -> the
    measurement store (``store``) or the catalogue (``catalog``) in that file, or the probe
    agent's spool (``spool``, a file of its own).

    With ``shared`` (a composition root's) the store and catalogue of one URL share one
    connection, which ``shared`` closes (so ``sqlite://:memory:`` is one database for both);
    without it each owns its own.
    """
    if port == "spool":  # the probe agent's, always a file of its own
        return await SqliteReportSpool.open(path_from_url(url))
    if port not in ("store", "catalog"):
        raise BackendConfigError(
            f"sqlite:// provides a measurement store and a catalogue, not {port!r} (and the "
            "probe agent's spool); use memory://, redis:// or sqs:// for queues and caches"
        )
    path = path_from_url(url)
    if shared is None:
        db, owns = await SqliteDatabase.open(path), True
    else:
        db = await shared.aget(("sqlite", url), lambda: SqliteDatabase.open(path), _close)
        owns = False
    return (
        SqliteMeasurementStore(db, owns_db=owns)
        if port == "store"
        else SqliteCatalog(db, owns_db=owns)
    )


async def _close(db: SqliteDatabase) -> None:
    await db.close()
