"""What an administrator runs (``cloudperf admin``, the admin Lambda): catalogue import here;
the export of measurements is :mod:`cloudperf_core.service.export` (re-exported); users,
probes and pause are :mod:`cloudperf_core.service.directory`.

A file is read in chunks of lines in a worker thread, each chunk joined with the stored
ranges it overlaps (:mod:`cloudperf_core.importers.join`) and written: locations first, then
ranges. After every chunk a checkpoint (the file's SHA-256, byte offset, line number, last
address) goes into the catalogue's settings, so a rerun on the same file resumes after the
last chunk written; a finished import removes it. Then the windows stored before the import
are tagged with their locations (:func:`~cloudperf_core.service.ingest.retag`).

>>> path = Path("ip2asn-combined.tsv")
>>> result = await import_catalog(catalog, store, path, "ip2asn", clock=clock)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import msgspec

from cloudperf_core.catalog import ImportCheckpoint, Location, LocationFilter, range_bounds
from cloudperf_core.errors import CloudperfError
from cloudperf_core.importers.formats import Format, read_chunk
from cloudperf_core.importers.join import StoredSpan, combine_for, join_chunk
from cloudperf_core.ports import Catalog, Clock, MeasurementStore, Places
from cloudperf_core.service.export import ExportRow, export_lines, export_rows
from cloudperf_core.service.ingest import retag

__all__ = [
    "ExportRow",
    "ImportIssue",
    "ImportResult",
    "export_lines",
    "export_rows",
    "import_catalog",
]

CHUNK_LINES = 5000
MAX_ISSUES = 100  # line-numbered reasons kept for the caller; the rest are counted
_PAGE = 1000
_LOCATION_CACHE = 50_000

Progress = Callable[[int, int], None]  # (bytes of the file read, file size)


class ImportIssue(msgspec.Struct, frozen=True):
    line: int
    reason: str


class ImportResult(msgspec.Struct, kw_only=True):
    """What an import did (counts include the part done before a resume)."""

    kind: str
    lines: int = 0
    records: int = 0  # lines turned into ranges
    ranges: int = 0  # ranges written (pieces of the join)
    locations: int = 0  # locations written (new or changed)
    skipped: int = 0  # lines that could not be used
    not_routed: int = 0  # ip2asn AS 0 lines
    issues: list[ImportIssue] = msgspec.field(default_factory=list)  # the first MAX_ISSUES
    resumed_at_line: int | None = None
    retagged: int = 0


class _StoredRanges:
    """The catalogue's ranges after a start address, page by page, with their locations."""

    def __init__(self, places: Places, after: str | None) -> None:
        self._places = places
        self._after = after
        self._spans: deque[StoredSpan] = deque()
        self._exhausted = False
        self.locations: OrderedDict[str, Location] = OrderedDict()

    async def upto(self, version: int, hi: int) -> list[StoredSpan]:
        """Every span starting at or before (version, hi), in order, taken off the cursor."""
        out: list[StoredSpan] = []
        while True:
            if not self._spans and not self._exhausted:
                await self._fetch()
            if not self._spans or (self._spans[0].version, self._spans[0].lo) > (version, hi):
                return out
            out.append(self._spans.popleft())

    def push_back(self, spans: list[StoredSpan]) -> None:
        self._spans.extendleft(reversed(spans))

    def remember(self, locations: list[Location]) -> None:
        for location in locations:
            self.locations[location.name] = location
            self.locations.move_to_end(location.name)
        while len(self.locations) > _LOCATION_CACHE:
            self.locations.popitem(last=False)

    async def _fetch(self) -> None:
        page = await self._places.list_ranges(after=self._after, limit=_PAGE)
        self._exhausted = len(page) < _PAGE
        if not page:
            return
        self._after = page[-1].start
        missing = {r.location for r in page} - self.locations.keys()
        if missing:
            found = await self._places.find_locations(LocationFilter(names=tuple(missing)))
            self.remember([msgspec.structs.replace(loc, location_id=None) for loc in found])
        for r in page:
            version, lo, hi = range_bounds(r.start, r.end)
            location = self.locations.get(r.location) or Location(name=r.location)
            self._spans.append(StoredSpan(version, int(lo), int(hi), location))


def _digest(path: Path) -> tuple[str, int]:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest(), path.stat().st_size
    except OSError as exc:
        raise CloudperfError(f"cannot read {path}: {exc.strerror or exc}") from exc


async def _save(catalog: Catalog, key: str, checkpoint: ImportCheckpoint | None) -> None:
    settings = await catalog.get_settings()
    imports = dict(settings.imports)
    if checkpoint is None:
        imports.pop(key, None)
    else:
        imports[key] = checkpoint
    await catalog.put_settings(msgspec.structs.replace(settings, imports=imports))


async def import_catalog(
    catalog: Catalog,
    store: MeasurementStore,
    path: Path,
    fmt: Format,
    *,
    clock: Clock,
    restart: bool = False,
    chunk_lines: int = CHUNK_LINES,
    progress: Progress | None = None,
) -> ImportResult:
    """Import ``path`` (``ip2asn`` or ``cities``) into the catalogue; resumes unless
    ``restart``. Lines that cannot be used are skipped and reported in the result."""
    digest, size = await anyio.to_thread.run_sync(_digest, path)
    key = f"{fmt}:{digest}"
    settings = await catalog.get_settings()
    stale = [k for k in settings.imports if k.startswith(f"{fmt}:") and k != key]
    for old in stale:  # another version of this file was interrupted: its offsets mean nothing
        await _save(catalog, old, None)
    found = None if restart else settings.imports.get(key)
    cp = found or ImportCheckpoint(kind=fmt, digest=digest, started_at_ms=clock.now_ms())
    result = ImportResult(kind=fmt, resumed_at_line=cp.next_line if found else None)
    last = None if cp.last_end is None else _key(cp.last_end)
    stored = _StoredRanges(catalog, cp.last_end)
    combine = combine_for(fmt)
    while True:
        read = functools.partial(
            read_chunk, path, fmt, offset=cp.offset, first_line_no=cp.next_line, last=last,
            max_lines=chunk_lines,
        )  # fmt: skip
        chunk = await anyio.to_thread.run_sync(read)
        ranges = locations = 0
        if chunk.records:
            tail = chunk.records[-1]
            joined = join_chunk(chunk.records, await stored.upto(tail.version, tail.hi), combine)
            stored.push_back(joined.left)
            changed = [
                loc for name, loc in joined.locations.items() if stored.locations.get(name) != loc
            ]
            if changed:
                await catalog.put_locations(changed)
                stored.remember(changed)
            await catalog.put_ranges(list(joined.ranges.values()))
            ranges, locations = len(joined.ranges), len(changed)
        last = chunk.last
        for line, reason in chunk.issues[: max(0, MAX_ISSUES - len(result.issues))]:
            result.issues.append(ImportIssue(line=line, reason=reason))
        cp = msgspec.structs.replace(
            cp,
            offset=chunk.offset,
            next_line=cp.next_line + chunk.lines,
            last_end=None if last is None else _text(*last),
            lines=cp.lines + chunk.lines,
            records=cp.records + len(chunk.records),
            ranges=cp.ranges + ranges,
            locations=cp.locations + locations,
            skipped=cp.skipped + len(chunk.issues),
            not_routed=cp.not_routed + chunk.not_routed,
        )
        if progress is not None:
            progress(size if chunk.done else chunk.raw_offset, size)
        if chunk.done:
            break
        await _save(catalog, key, cp)
    await _save(catalog, key, None)
    for name in ("lines", "records", "ranges", "locations", "skipped", "not_routed"):
        setattr(result, name, getattr(cp, name))
    result.retagged = await retag(store, catalog)
    return result


def _key(address: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(address)
    return addr.version, int(addr)


def _text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))
