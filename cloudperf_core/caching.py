"""Query-result caching around any :class:`MeasurementStore`, invalidated by writes.

Cached results live under a key made of a *generation* token and a stable hash of the query.
Every ingest that may have written replaces the generation token, so every result cached
before the write becomes unreachable at once: a query that starts after a write returns never
sees data from before it. (The token is random rather than a counter so that a generation key
lost to eviction can never bring an old generation, and its cached results, back.)

>>> store = CachingMeasurementStore(AuroraMeasurementStore(...), RedisCache(...))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence

import msgspec

from cloudperf_core.errors import BackendError, InvalidSpecError
from cloudperf_core.models import IngestOutcome, ReportWindows, StatsQuery, WindowAggregate
from cloudperf_core.ports import Cache, MeasurementStore

__all__ = ["CachingMeasurementStore"]

log = logging.getLogger(__name__)

_ROWS_ENCODER = msgspec.msgpack.Encoder()
_ROWS_DECODER = msgspec.msgpack.Decoder(list[WindowAggregate])
_QUERY_ENCODER = msgspec.msgpack.Encoder()


class CachingMeasurementStore:
    """A ``MeasurementStore`` that answers repeated queries from ``cache`` for ``ttl_s``.

    The cache is an optimisation only: if it fails while answering a query, the query goes
    to ``store`` (and a warning is logged). If it fails while invalidating after a write, the
    error is raised (BackendUnavailableError, safe to retry): the write itself is durable and
    idempotent, and the retried ingest invalidates again.
    """

    def __init__(
        self,
        store: MeasurementStore,
        cache: Cache,
        ttl_s: float = 60.0,
        namespace: str = "query",
    ) -> None:
        if ttl_s <= 0:
            raise InvalidSpecError(f"ttl_s must be positive, not {ttl_s}")
        self.inner = store
        self._cache = cache
        self._ttl_s = ttl_s
        self._namespace = namespace
        self._generation_key = f"{namespace}:generation"

    async def ingest(self, batch: Sequence[ReportWindows]) -> IngestOutcome:
        """Write through to the store, then invalidate every cached query result.

        Duplicates invalidate too: a report seen again may be the retry of an ingest whose
        write succeeded but whose invalidation failed.
        """
        outcome = await self.inner.ingest(batch)
        if outcome.ingested or outcome.duplicates:
            await self._cache.set(self._generation_key, _new_generation())
        return outcome

    async def fetch_windows(self, query: StatsQuery) -> list[WindowAggregate]:
        try:
            key = await self._result_key(query)
            cached = await self._cache.get(key)
        except BackendError as exc:
            log.warning("query cache unavailable, reading the store directly: %s", exc)
            return await self.inner.fetch_windows(query)
        if cached is not None:
            try:
                return _ROWS_DECODER.decode(cached)
            except msgspec.DecodeError:
                log.warning("discarding an undecodable cached query result under %s", key)
        rows = await self.inner.fetch_windows(query)
        try:
            await self._cache.set(key, _ROWS_ENCODER.encode(rows), ttl_s=self._ttl_s)
        except BackendError as exc:
            log.warning("could not cache a query result: %s", exc)
        return rows

    async def close(self) -> None:
        """Close the store and the cache (a cache sharing a pool leaves the pool open)."""
        try:
            await self.inner.close()
        finally:
            await self._cache.close()

    async def _result_key(self, query: StatsQuery) -> str:
        # The generation is read *before* the store is, so a result fetched while a write
        # lands is filed under the old generation, which that write replaces when it is done.
        generation = await self._cache.get(self._generation_key)
        if generation is None:
            generation = _new_generation()
            await self._cache.set(self._generation_key, generation)
        digest = hashlib.sha256(_QUERY_ENCODER.encode(query)).hexdigest()[:32]
        return f"{self._namespace}:result:{generation.hex()}:{digest}"


def _new_generation() -> bytes:
    return secrets.token_bytes(8)
