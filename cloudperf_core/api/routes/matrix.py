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

from typing import Annotated, Literal

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

    def fill(self, groups: list[GroupStats], after: _Cursor | None) -> _Cursor | None:
        """Add the cells of ``groups`` after ``after`` until the page's bytes pass the budget;
        returns the key of the last cell given if the page ended early.

        One loop with everything in locals: it runs for every cell of the matrix.
        """
        after_source, after_dest = after if after is not None else ("", None)
        sources, dests, places = self.sources, self.dests, (self._source_index, self._dest_index)
        c = self.cells
        encode = _encoder.encode
        size = self.size
        cut: _Cursor | None = None
        for g in groups:
            source, dest = g.source, g.dest
            if source is None or dest is None:
                continue
            if after_dest is not None and source == after_source and dest <= after_dest:
                continue  # given on the previous page
            if size > PAGE_BUDGET_BYTES:
                cut = (sources[c.source[-1]].key, dests[c.dest[-1]].key)
                break
            s = places[0].get(source)
            if s is None:
                s = places[0][source] = len(sources)
                sources.append(Place(key=source, name=g.source_name))
                size += len(encode(sources[-1])) + 1
            d = places[1].get(dest)
            if d is None:
                d = places[1][dest] = len(dests)
                dests.append(Place(key=dest, name=g.dest_name))
                size += len(encode(dests[-1])) + 1
            st = g.stats
            p50, p95, p99 = us_to_ms(st.p50_us), us_to_ms(st.p95_us), us_to_ms(st.p99_us)
            c.source.append(s)
            c.dest.append(d)
            c.sent.append(st.sent)
            c.received.append(st.received)
            c.duplicates.append(st.duplicates)
            c.p50_ms.append(p50)
            c.p95_ms.append(p95)
            c.p99_ms.append(p99)
            size += len(encode((s, d, st.sent, st.received, st.duplicates, p50, p95, p99)))
        self.size = size
        return cut


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
