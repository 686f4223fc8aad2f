"""Aurora MySQL (and MySQL 8 / MariaDB 10.11) measurement store over an asyncmy pool.

``mysql://user:pass@host:port/db?pool_size=2&connect_timeout_s=5&statement_timeout_s=30``
(options: :class:`adapters.aurora.config.AuroraOptions`). Opening does not touch the schema;
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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.aurora import migrate as aurora_migrate
from adapters.aurora import sql
from adapters.aurora.catalog import AuroraCatalog
from adapters.aurora.db import AuroraConfig, Database, Tx, placeholders
from adapters.aurora.retention import apply_retention
from adapters.aurora.rows import (
    MAX_IDS_PER_STATEMENT,
    MAX_KEYS_PER_STATEMENT,
    select_windows_for_update,
    upsert_windows,
)
from adapters.window_rows import window_from_row
from cloudperf_core.backends import SharedResources
from cloudperf_core.batching import chunks
from cloudperf_core.catalog import RetentionPolicy, RetentionResult, check_limit
from cloudperf_core.errors import BackendConfigError
from cloudperf_core.models import (
    DataPresence,
    IngestOutcome,
    ReportWindows,
    StatsQuery,
    WindowAggregate,
    WindowKey,
)
from cloudperf_core.reports import digests_conflict
from cloudperf_core.windows.aggregate import combine_all, window_key

__all__ = ["AuroraCatalog", "AuroraMeasurementStore", "open_backend"]


class AuroraMeasurementStore:
    """The MeasurementStore (and Migratable) port over MySQL-compatible databases.

    ``catalog`` (:class:`AuroraCatalog`) is the catalogue in the same database on the same
    pool; :meth:`apply_retention` rolls old windows up.
    """

    def __init__(self, database: Database, *, owns_database: bool = True) -> None:
        self._db = database
        self._owns_database = owns_database
        self._gate = aurora_migrate.SchemaGate(self._db)
        self.catalog = AuroraCatalog(self._db, self._gate, owns_db=False)

    @property
    def database(self) -> Database:
        return self._db

    # --- Migratable ------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply pending ``adapters/aurora/migrations/*.sql``; returns the versions applied now."""
        return await self._gate.migrate()

    async def schema_version(self) -> int:
        return await aurora_migrate.schema_version(self._db)

    async def _require_schema(self) -> None:
        await self._gate.require()

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
        known: dict[str, bytes] = {}
        for chunk in chunks(ids, MAX_IDS_PER_STATEMENT):
            await cur.execute(sql.in_list(sql.SELECT_INGESTED_IDS, len(chunk)), list(chunk))
            known.update((r[0], bytes(r[1] or b"")) for r in await cur.fetchall())
        outcome = IngestOutcome()
        fresh: list[ReportWindows] = []
        for report in batch:
            rid = report.report_id
            if rid in known:
                conflict = digests_conflict(known[rid], report.digest)
                (outcome.conflicts if conflict else outcome.duplicates).append(rid)
            else:
                known[rid] = report.digest
                outcome.ingested.append(rid)
                fresh.append(report)
        if not fresh:
            return outcome
        now_s = int(time.time())
        for part in chunks(fresh, MAX_IDS_PER_STATEMENT):
            stmt = sql.values_rows(sql.INSERT_INGESTED_IDS, len(part), 3)
            await cur.execute(
                stmt, [v for r in part for v in (r.report_id, now_s, r.digest or None)]
            )

        pending: dict[WindowKey, list[WindowAggregate]] = {}
        for report in fresh:
            for window in report.windows:
                pending.setdefault(window_key(window), []).append(window)
        staged: dict[WindowKey, WindowAggregate] = {}
        if pending:
            stored = {
                window_key(row): row for row in await select_windows_for_update(cur, list(pending))
            }
            staged = combine_all(pending, stored)
            await upsert_windows(cur, list(staged.values()))
        return outcome

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        """Rows matching the query's sources, targets and ``[since_s, until_s)``."""
        await self._require_schema()
        if () in (query.sources, query.targets, query.dest_location_ids):
            return []
        stmt = sql.SELECT_WINDOWS
        params: list[Any] = []
        if query.sources is not None:
            stmt += sql.in_list(sql.AND_SOURCE_IN, len(query.sources))
            params.extend(query.sources)
        if query.targets is not None:
            stmt += sql.in_list(sql.AND_TARGET_IN, len(query.targets))
            params.extend(query.targets)
        if query.dest_location_ids is not None:
            stmt += sql.in_list(sql.AND_DEST_IN, len(query.dest_location_ids))
            params.extend(query.dest_location_ids)
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

    async def untagged_targets(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        await self._require_schema()
        params = (after or "", check_limit(limit))

        async def body(cur: Tx) -> list[str]:
            await cur.execute(sql.SELECT_UNTAGGED, params)
            return [str(r[0]) for r in await cur.fetchall()]

        return await self._db.run("untagged targets", body, write=False)

    async def tag_targets(self, locations: Mapping[str, int]) -> int:
        await self._require_schema()
        items = sorted(locations.items())

        async def body(cur: Tx) -> int:
            tagged = 0
            for chunk in chunks(items, MAX_KEYS_PER_STATEMENT):
                cases = " ".join([sql.TAG_CASE] * len(chunk))
                stmt = sql.TAG_TARGETS.format(cases, placeholders(len(chunk)))
                params = [v for pair in chunk for v in pair] + [t for t, _ in chunk]
                tagged += int(await cur.execute(stmt, params))
            return tagged

        return await self._db.run("tag targets", body) if items else 0

    async def data_presence(self, since_s: int | None, until_s: int | None) -> DataPresence:
        await self._require_schema()
        span = (
            _EARLIEST_S if since_s is None else since_s,
            _LATEST_S if until_s is None else until_s,
        )

        async def body(cur: Tx) -> DataPresence:
            await cur.execute(sql.PRESENCE_SOURCES, span)
            sources = [str(r[0]) for r in await cur.fetchall()]
            await cur.execute(sql.PRESENCE_DESTS, span)
            dests = [int(r[0]) for r in await cur.fetchall()]
            await cur.execute(sql.PRESENCE_PAIRS, span)
            (pairs,) = await cur.fetchone()
            return DataPresence(sources=sources, dest_location_ids=dests, pairs=int(pairs))

        return await self._db.run("data presence", body, write=False)

    async def apply_retention(
        self, now_s: int, policy: RetentionPolicy | None = None
    ) -> RetentionResult:
        """Roll old windows up into coarser ones (sketches merged); expire the coarsest."""
        await self._require_schema()
        return await apply_retention(self._db, now_s, policy or RetentionPolicy())

    async def close(self) -> None:
        """Close the pool if this store owns it (a shared one closes with its composition root)."""
        if self._owns_database:
            await self._db.close()


# Bounds standing in for an open time range (window starts are epoch seconds).
_EARLIEST_S, _LATEST_S = -(2**62), 2**62


async def open_backend(
    url: str, port: str, *, shared: SharedResources | None = None
) -> AuroraMeasurementStore | AuroraCatalog:
    """Entry point for ``mysql://``: the measurement ``store`` or the ``catalog``.

    With ``shared`` (a composition root's), every port opened from the same URL uses one
    pool, which ``shared`` closes; without it each owns a pool of its own.
    """
    if port not in ("store", "catalog"):
        raise BackendConfigError(
            f"mysql:// provides a measurement store and a catalogue, not {port!r}"
        )
    config = AuroraConfig.from_url(url)
    if shared is None:
        database, owns = Database(config), True
    else:
        database = shared.get(("mysql", url), lambda: Database(config), Database.close)
        owns = False
    if port == "store":
        return AuroraMeasurementStore(database, owns_database=owns)
    return AuroraCatalog(database, owns_db=owns)


if TYPE_CHECKING:  # mypy proves the store satisfies its ports; nothing runs here
    from cloudperf_core.ports import MeasurementStore, Migratable

    def _conforms(store: AuroraMeasurementStore) -> tuple[MeasurementStore, Migratable]:
        return (store, store)
