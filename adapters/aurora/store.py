"""Aurora MySQL (and MySQL 8 / MariaDB 10.11) measurement store over an asyncmy pool.

``mysql://user:pass@host:port/db?pool_size=10&connect_timeout_s=5&statement_timeout_s=30``
(options: :class:`adapters.aurora.db.AuroraConfig`). Opening does not touch the schema;
``cloudperf db migrate --store mysql://...`` creates it (:meth:`AuroraMeasurementStore.migrate`).

Ingest of a batch is one transaction with a fixed number of round trips whatever the batch
size: report ids already stored are found and locked with one ``IN (...)`` select, the new ids
go in with one multi-row insert, the affected window rows are read under lock with one
row-constructor ``IN`` select, merged in Python (counts added, sketches merged; percentiles
are never averaged), and written back with one multi-row upsert (chunked only when a
statement would grow past ``MAX_STATEMENT_BYTES``).

>>> store = await open_backend("mysql://root@127.0.0.1:3306/cloudperf", "store")  # doctest: +SKIP
>>> await store.migrate()                                                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from adapters.aurora import migrate as aurora_migrate
from adapters.aurora import sql
from adapters.aurora.catalog import AuroraCatalog
from adapters.aurora.db import AuroraConfig, Database, Tx
from adapters.aurora.rows import (
    MAX_IDS_PER_STATEMENT,
    WindowKey,
    chunks,
    locate_many,
    pk,
    select_windows_for_update,
    upsert_windows,
)
from adapters.window_rows import window_from_row
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.models import IngestOutcome, ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.windows.aggregate import combine_all

__all__ = ["AuroraCatalog", "AuroraMeasurementStore", "open_backend"]


class AuroraMeasurementStore:
    """The MeasurementStore (and Migratable) port over MySQL-compatible databases.

    ``catalog`` (:class:`AuroraCatalog`) shares the pool and adds locations, address ranges,
    discovery history, probes, users, grouped queries and retention.
    """

    def __init__(self, config: AuroraConfig) -> None:
        self._db = Database(config)
        self._schema_ok = False
        self.catalog = AuroraCatalog(self._db, self._require_schema)

    @property
    def database(self) -> Database:
        return self._db

    # --- Migratable ------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply pending ``adapters/aurora/migrations/*.sql``; returns the versions applied now."""
        applied = await aurora_migrate.migrate(self._db)
        self._schema_ok = False
        return applied

    async def schema_version(self) -> int:
        return await aurora_migrate.schema_version(self._db)

    async def _require_schema(self) -> None:
        if self._schema_ok:
            return
        version = await self.schema_version()
        required = aurora_migrate.REQUIRED_VERSION
        if version < required:
            raise BackendConfigError(
                f"schema version {version} < required {required}: run "
                f"`cloudperf db migrate --store {self._db.config.redacted_url}`"
            )
        self._schema_ok = True

    # --- MeasurementStore ------------------------------------------------------------------

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Merge every new report's windows in one transaction; skip known report ids."""
        await self._require_schema()
        if not batch:
            return IngestOutcome()

        async def body(cur: Tx) -> IngestOutcome:
            return await self._ingest_tx(cur, batch)

        return await self._db.run("ingest", body, retry_duplicate_key=True)

    async def _ingest_tx(self, cur: Tx, batch: Sequence[ReportWindows]) -> IngestOutcome:
        ids = list(dict.fromkeys(r.report_id for r in batch))
        known: set[str] = set()
        for chunk in chunks(ids, MAX_IDS_PER_STATEMENT):
            await cur.execute(sql.in_list(sql.SELECT_INGESTED_IDS, len(chunk)), list(chunk))
            known.update(r[0] for r in await cur.fetchall())
        outcome = IngestOutcome()
        fresh: list[ReportWindows] = []
        seen: set[str] = set()
        for report in batch:
            if report.report_id in known or report.report_id in seen:
                outcome.duplicates.append(report.report_id)
            else:
                seen.add(report.report_id)
                outcome.ingested.append(report.report_id)
                fresh.append(report)
        if not fresh:
            return outcome
        now_s = int(time.time())
        for chunk in chunks(outcome.ingested, MAX_IDS_PER_STATEMENT):
            stmt = sql.values_rows(sql.INSERT_INGESTED_IDS, len(chunk), 2)
            await cur.execute(stmt, [v for rid in chunk for v in (rid, now_s)])

        pending: dict[WindowKey, list[WindowAggregate]] = {}
        for report in fresh:
            for window in report.windows:
                pending.setdefault(pk(window), []).append(window)
        staged: dict[WindowKey, WindowAggregate] = {}
        if pending:
            stored = {pk(row): row for row in await select_windows_for_update(cur, list(pending))}
            staged = combine_all(pending, stored)
            dest = await locate_many(cur, [k[1] for k in staged])
            await upsert_windows(cur, list(staged.values()), dest)
        return outcome

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Rows matching the query's sources, targets and ``[since_s, until_s)``."""
        await self._require_schema()
        if query.sources == () or query.targets == ():
            return []
        stmt = sql.SELECT_WINDOWS
        params: list[Any] = []
        if query.sources is not None:
            stmt += sql.in_list(sql.AND_SOURCE_IN, len(query.sources))
            params.extend(query.sources)
        if query.targets is not None:
            stmt += sql.in_list(sql.AND_TARGET_IN, len(query.targets))
            params.extend(query.targets)
        if query.since_s is not None:
            stmt += sql.AND_SINCE
            params.append(query.since_s)
        if query.until_s is not None:
            stmt += sql.AND_UNTIL
            params.append(query.until_s)
        stmt += sql.ORDER_WINDOWS

        async def body(cur: Tx) -> list[WindowAggregate]:
            await cur.execute(stmt, params)
            return [window_from_row(r) for r in await cur.fetchall()]

        return await self._db.run("fetch windows", body, write=False)

    async def close(self) -> None:
        await self._db.close()


async def open_backend(url: str, port: str) -> AuroraMeasurementStore:
    """Entry point for ``mysql://``: only the ``store`` port lives here."""
    if port != "store":
        raise BackendConfigError(f"mysql:// provides a measurement store, not {port!r}")
    return AuroraMeasurementStore(AuroraConfig.from_url(url))
