"""The latency matrix (viewer and up): source locations by destination places, compactly.

``GET /v1/latency/matrix?dest_by=country&since=3h`` answers the cells of the console's
overview: for every (probe location, destination place) with data in the range, the exact
counts and the merged sketch's p50/p95/p99 -- the same figures ``GET /v1/latency`` gives for
``source_by=probe_location&dest_by=...``, without the columns a matrix does not draw, as
columns of numbers (a 200 x 200 matrix is 40,000 cells).

Pages go by source location: each request merges the windows of at most ``sources`` probe
locations (so the work per request stays bounded however large the matrix), and a page also
ends before ``PAGE_BUDGET_BYTES``, mid-row if it must; ``next_cursor`` continues exactly after
the last cell. Cells without a destination place (targets the catalogue does not locate) are
not part of the matrix.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Annotated, Any, Literal

import msgspec
from starlette.responses import Response

from cloudperf_core import service
from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.paging import (
    MAX_CURSOR_LEN,
    PAGE_BUDGET_BYTES,
    decode_cursor,
    encode_cursor,
)
from cloudperf_core.api.params import PlaceFilters, place_query, us_to_ms
from cloudperf_core.models import Grouping, GroupStats
from cloudperf_core.service.queries import all_probes

__all__ = ["ROUTES"]

MatrixDest = Literal["location", "city", "asn", "country", "group"]
DEFAULT_SOURCES = 25
# (source, dest): the last cell of a page; dest None = every cell of that source was given.
_Cursor = tuple[str, str | None]
_encoder = msgspec.json.Encoder()
_COLUMNS = ("source", "dest", "sent", "received", "duplicates", "p50_ms", "p95_ms", "p99_ms")


class MatrixParams(PlaceFilters, kw_only=True, forbid_unknown_fields=True):
    dest_by: MatrixDest = "country"
    sources: Annotated[int, msgspec.Meta(ge=1, le=200)] = DEFAULT_SOURCES
    cursor: Annotated[str, msgspec.Meta(max_length=MAX_CURSOR_LEN)] | None = None


class Place(msgspec.Struct, kw_only=True):
    """A row or column: its key (what the filters of ``/v1/latency`` take) and its name."""

    key: str
    name: str | None = None


class MatrixCells(msgspec.Struct, kw_only=True):
    """Cell ``i`` is ``sources[source[i]]`` x ``dests[dest[i]]``: exact counts, percentiles
    in milliseconds from the merged sketches (within 1 %); loss = 1 - received / sent."""

    source: list[int] = msgspec.field(default_factory=list)
    dest: list[int] = msgspec.field(default_factory=list)
    sent: list[int] = msgspec.field(default_factory=list)
    received: list[int] = msgspec.field(default_factory=list)
    duplicates: list[int] = msgspec.field(default_factory=list)
    p50_ms: list[float | None] = msgspec.field(default_factory=list)
    p95_ms: list[float | None] = msgspec.field(default_factory=list)
    p99_ms: list[float | None] = msgspec.field(default_factory=list)


class MatrixPage(msgspec.Struct, kw_only=True):
    """One page of cells, with the rows and columns they refer to (this page's only)."""

    since_s: int
    until_s: int
    dest_by: MatrixDest
    sources: list[Place]
    dests: list[Place]
    cells: MatrixCells
    next_cursor: str | None = None


class _PageBuilder:
    def __init__(self) -> None:
        self.sources: list[Place] = []
        self.dests: list[Place] = []
        self._source_index: dict[str, int] = {}
        self._dest_index: dict[str, int] = {}
        self.cells = MatrixCells()
        self.size = 0
        self._new: dict[int, int] = {}  # id(places) -> how many the last fill added

    def fill(self, groups: list[GroupStats], after: _Cursor | None) -> _Cursor | None:
        """Add the cells of ``groups`` after ``after`` until the page's bytes pass the budget;
        returns the key of the last cell given if the page ended early.

        Column by column (it runs for every cell of the matrix): every candidate cell's
        values, then each cell's bytes from the encoded columns (numbers hold no commas, so
        splitting a column's JSON at commas gives each value's text), then the cut.
        """
        after_source, after_dest = after if after is not None else ("", None)
        cells = [
            g
            for g in groups
            if g.source is not None
            and g.dest is not None
            and not (after_dest is not None and g.source == after_source and g.dest <= after_dest)
        ]
        if not cells:
            return None
        stats = [g.stats for g in cells]
        columns: list[list[Any]] = [
            self._indices(cells, self.sources, self._source_index, source=True),
            self._indices(cells, self.dests, self._dest_index, source=False),
            [st.sent for st in stats],
            [st.received for st in stats],
            [st.duplicates for st in stats],
            [us_to_ms(st.p50_us) for st in stats],
            [us_to_ms(st.p95_us) for st in stats],
            [us_to_ms(st.p99_us) for st in stats],
        ]
        # A cell's bytes as _encoder.encode((s, d, ...)) counts them, plus the bytes of the
        # places it is the first cell of.
        texts = [map(len, _encoder.encode(col)[1:-1].split(b",")) for col in columns]
        sizes = [len(columns) + 1 + sum(values) for values in zip(*texts, strict=True)]
        for places, column in ((self.sources, columns[0]), (self.dests, columns[1])):
            seen = len(places) - self._new[id(places)]
            for i, at in enumerate(column):
                if at >= seen:  # places are numbered in order of their first cell
                    sizes[i] += len(_encoder.encode(places[at])) + 1
                    seen = at + 1
        # The page ends after the first cell that brings it over the budget.
        kept = bisect_right(list(accumulate(sizes, initial=self.size))[1:], PAGE_BUDGET_BYTES) + 1
        kept = min(kept, len(cells))
        self.size += sum(sizes[:kept])
        c = self.cells
        for name, column in zip(_COLUMNS, columns, strict=True):
            getattr(c, name).extend(column[:kept])
        # Places first met past the cut are not part of the page.
        del self.sources[max(c.source, default=-1) + 1 :]
        del self.dests[max(c.dest, default=-1) + 1 :]
        if kept == len(cells):
            return None
        return (self.sources[c.source[-1]].key, self.dests[c.dest[-1]].key)

    def _indices(
        self, cells: list[GroupStats], places: list[Place], index: dict[str, int], *, source: bool
    ) -> list[int]:
        """Each cell's row (or column) number, numbering new places in order of first use."""
        before = len(places)
        out: list[int] = []
        for g in cells:
            key = g.source if source else g.dest
            assert key is not None
            found = index.get(key)
            if found is None:
                found = index[key] = len(places)
                places.append(Place(key=key, name=g.source_name if source else g.dest_name))
            out.append(found)
        self._new[id(places)] = len(places) - before
        return out


async def _source_locations(call: Call, wanted: list[str] | None) -> list[str]:
    probes = await all_probes(await call.ctx.services.catalog())
    names = {p.location for p in probes if p.location is not None}
    if wanted is not None:
        names &= set(wanted)
    return sorted(names)


@endpoint(
    Operation(
        "GET", "/v1/latency/matrix", "Source locations by destination places: counts and "
        "p50/p95/p99 per cell, for the console's matrix", "viewer", "queries",
        query=MatrixParams, response=MatrixPage, errors=(400,),
    )
)  # fmt: skip
async def latency_matrix(call: Call) -> Response:
    params = call.query(MatrixParams)
    query = place_query(params, call.ctx.clock.now_ms())
    after = decode_cursor(params.cursor, tuple[str, str | None])
    names = await _source_locations(call, params.probe_location)
    after_source, after_dest = after if after is not None else ("", None)
    if after is not None:
        names = [n for n in names if n > after_source or (n == after_source and after_dest)]
    chunk = names[: params.sources]
    page = _PageBuilder()
    cut: _Cursor | None = None
    if chunk:
        services = call.ctx.services
        groups = await service.query_stats(
            await services.store(),
            msgspec.structs.replace(query, probe_locations=tuple(chunk)),
            Grouping(source="probe_location", dest=params.dest_by),
            catalog=await services.catalog(),
        )
        cut = page.fill(groups, after)
    if cut is None and len(names) > len(chunk):
        cut = (chunk[-1], None)
    assert query.since_s is not None and query.until_s is not None
    return call.json(
        MatrixPage(
            since_s=query.since_s,
            until_s=query.until_s,
            dest_by=params.dest_by,
            sources=page.sources,
            dests=page.dests,
            cells=page.cells,
            next_cursor=None if cut is None else encode_cursor(cut),
        )
    )


ROUTES: list[ApiRoute] = [latency_matrix]
