"""Pages of list answers: ``{"items": [...], "next_cursor": str | null}``.

Every list endpoint takes ``limit`` (default 100, at most 1000) and an opaque ``cursor``
(the previous page's ``next_cursor``). A cursor is the last item's sort key, JSON in
base64url: the next page continues after it (keyset), so pages neither skip nor repeat items
when others are added meanwhile. A page also ends early once its items' encoded size reaches
:data:`PAGE_BUDGET_BYTES`, which keeps every response well below the ALB's 1 MB.

>>> page_of([1, 2, 3], key=lambda n: n, limit=2).next_cursor == encode_cursor(2)
True
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from cloudperf_core.api.errors import ApiError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PAGE_BUDGET_BYTES",
    "Limit",
    "Page",
    "PageParams",
    "decode_cursor",
    "encode_cursor",
    "page_of",
]

T = TypeVar("T")
K = TypeVar("K")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGE_BUDGET_BYTES = 800_000  # items' bytes per page; the envelope stays far below 1 MB
MAX_CURSOR_LEN = 2048
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
_encoder = msgspec.json.Encoder()


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``limit`` and ``cursor``: the query parameters of every list endpoint."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Annotated[str, msgspec.Meta(max_length=MAX_CURSOR_LEN)] | None = None


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(_encoder.encode(key)).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, type_: type[K]) -> K | None:
    """The key a cursor holds (``None`` for no cursor); 400 ``invalid_cursor`` if it was
    not made by this API for this kind of list."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=type_)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this list gave") from exc


def page_of(
    items: Sequence[T], *, key: Callable[[T], Any], limit: int, more: bool = False
) -> Page[T]:
    """The first ``limit`` items (fewer if the byte budget is reached first), with a cursor
    after the last one when anything is left: further ``items``, or ``more`` (the source
    has items beyond those given, e.g. it was asked for ``limit + 1``)."""
    out: list[T] = []
    size = 0
    left = more
    for item in items:
        if len(out) == limit:
            left = True
            break
        size += len(_encoder.encode(item)) + 1
        if out and size > PAGE_BUDGET_BYTES:
            left = True
            break
        out.append(item)
    return Page(items=out, next_cursor=encode_cursor(key(out[-1])) if left and out else None)
