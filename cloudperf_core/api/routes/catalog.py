"""The catalogue as viewers browse it: search, countries / cities / ASNs (optionally only
those with data), and groups of locations (operators write them)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.api.paging import Limit, Page, PageParams, decode_cursor, page_of
from cloudperf_core.api.params import LocationView, TimeRange, location_view, time_range
from cloudperf_core.catalog import Group, parse_address
from cloudperf_core.errors import InvalidSpecError
from cloudperf_core.places import PlaceKind, PlaceSummary
from cloudperf_core.service import groups as group_cases
from cloudperf_core.service.queries import list_places

__all__ = ["ROUTES"]


class SearchParams(PageParams, kw_only=True, forbid_unknown_fields=True):
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PlaceParams(TimeRange, kw_only=True, forbid_unknown_fields=True):
    """``with_data``: only places with windows starting in since..until (last hour)."""

    with_data: bool = False
    limit: Limit = 100
    cursor: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


class GroupSummary(msgspec.Struct, kw_only=True):
    name: str
    locations: int


class GroupMembers(msgspec.Struct, kw_only=True):
    """A page of a group's locations (by name)."""

    name: str
    items: list[str]
    next_cursor: str | None = None


class GroupBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Exactly these locations (names), replacing the group's members."""

    locations: list[Annotated[str, msgspec.Meta(min_length=1, max_length=255)]]


def _is_address(text: str) -> bool:
    try:
        parse_address(text.strip())
    except InvalidSpecError:
        return False
    return True


@endpoint(
    Operation(
        "GET", "/v1/search", "Locations whose name, ASN, country or city match every word "
        "(an IP address finds its location)", "viewer", "catalog", query=SearchParams,
        response=Page[LocationView], errors=(400,),
    )
)  # fmt: skip
async def search(call: Call) -> Response:
    params = call.query(SearchParams)
    catalog = await call.ctx.services.catalog()
    if not _is_address(params.q):
        after = decode_cursor(params.cursor, str)
        found = await catalog.search(params.q, after=after, limit=params.limit + 1)
        views = [location_view(loc) for loc in found]
        return call.json(page_of(views, key=lambda v: v.name, limit=params.limit))
    located = await catalog.locate(params.q.strip())
    items = [] if located is None or params.cursor else [location_view(located)]
    return call.json(Page(items=items))


def _places_endpoint(kind: PlaceKind, path: str, what: str) -> ApiRoute:
    @endpoint(
        Operation(
            "GET", path, f"The {what} of the catalogue, or only those with data lately",
            "viewer", "catalog", query=PlaceParams, response=Page[PlaceSummary],
            errors=(400,),
        )
    )  # fmt: skip
    async def handler(call: Call) -> Response:
        params = call.query(PlaceParams)
        services = call.ctx.services
        after = decode_cursor(params.cursor, str)
        since, until = time_range(params, call.ctx.clock.now_ms())
        places = await list_places(
            await services.catalog(),
            kind,
            after=after,
            limit=params.limit + 1,
            with_data=await services.store() if params.with_data else None,
            since_s=since,
            until_s=until,
        )
        return call.json(page_of(places, key=lambda p: p.key, limit=params.limit))

    return handler


countries = _places_endpoint("country", "/v1/countries", "countries")
cities = _places_endpoint("city", "/v1/cities", "cities (CC/City)")
asns = _places_endpoint("asn", "/v1/asns", "ASNs")


@endpoint(
    Operation(
        "GET", "/v1/groups", "Groups of locations", "viewer", "catalog", query=PageParams,
        response=Page[GroupSummary], errors=(400,),
    )
)  # fmt: skip
async def list_groups(call: Call) -> Response:
    params = call.query(PageParams)
    after = decode_cursor(params.cursor, str)
    catalog = await call.ctx.services.catalog()
    summaries = [
        GroupSummary(name=g.name, locations=len(g.locations))
        for g in await catalog.list_groups()
        if after is None or g.name > after
    ]
    return call.json(page_of(summaries, key=lambda g: g.name, limit=params.limit))


@endpoint(
    Operation(
        "GET", "/v1/groups/{name}", "The locations of a group, page by page", "viewer",
        "catalog", query=PageParams, response=GroupMembers, errors=(400, 404),
    )
)  # fmt: skip
async def get_group(call: Call) -> Response:
    params = call.query(PageParams)
    after = decode_cursor(params.cursor, str)
    group = await group_cases.get_group(await call.ctx.services.catalog(), call.path("name"))
    members = [n for n in group.locations if after is None or n > after]
    page = page_of(members, key=lambda n: n, limit=params.limit)
    return call.json(GroupMembers(name=group.name, items=page.items, next_cursor=page.next_cursor))


@endpoint(
    Operation(
        "PUT", "/v1/groups/{name}", "Create a group or replace its locations", "operator",
        "catalog", body=GroupBody, response=GroupSummary,
    )
)  # fmt: skip
async def put_group(call: Call) -> Response:
    body = await call.body(GroupBody)
    group: Group = await group_cases.set_group(
        await call.ctx.services.catalog(), call.path("name"), body.locations
    )
    return call.json(GroupSummary(name=group.name, locations=len(group.locations)))


@endpoint(
    Operation(
        "DELETE", "/v1/groups/{name}", "Delete a group", "operator", "catalog",
        status=204, errors=(404,),
    )
)  # fmt: skip
async def delete_group(call: Call) -> Response:
    await group_cases.delete_group(await call.ctx.services.catalog(), call.path("name"))
    return call.empty()


ROUTES: list[ApiRoute] = [
    search,
    countries,
    cities,
    asns,
    list_groups,
    get_group,
    put_group,
    delete_group,
]
