"""User-defined groups of locations (operators create, replace and delete them).

A group name is 1-64 characters of letters, digits, space, ``.``, ``_`` and ``-``, starting
with a letter or digit (it appears in URLs and in query filters). Every member must be a
location of the catalogue: an unknown one is refused by name, nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cloudperf_core.catalog import Group, LocationFilter
from cloudperf_core.errors import InvalidSpecError, NotFoundError
from cloudperf_core.ports import Places

__all__ = ["GROUP_NAME_RE", "delete_group", "get_group", "set_group"]

GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
MAX_MEMBERS = 100_000


def check_group_name(name: str) -> str:
    if not GROUP_NAME_RE.match(name):
        raise InvalidSpecError(
            "a group name is 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


async def set_group(places: Places, name: str, locations: Sequence[str]) -> Group:
    """Create the group or replace its members with exactly ``locations``."""
    check_group_name(name)
    wanted = sorted(set(locations))
    if len(wanted) > MAX_MEMBERS:
        raise InvalidSpecError(f"a group holds at most {MAX_MEMBERS} locations")
    found = {loc.name for loc in await places.find_locations(LocationFilter(names=tuple(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InvalidSpecError(f"no such locations in the catalogue: {shown}{more}")
    group = Group(name=name, locations=tuple(wanted))
    await places.set_group(group)
    return group


async def get_group(places: Places, name: str) -> Group:
    group = await places.get_group(name)
    if group is None:
        raise NotFoundError(f"no group named {name!r}")
    return group


async def delete_group(places: Places, name: str) -> None:
    if not await places.delete_group(name):
        raise NotFoundError(f"no group named {name!r}")
