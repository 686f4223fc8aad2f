"""Backend URLs: split safely, and query options parsed into a typed, ranged Struct.

Every adapter describes its options as a ``msgspec.Struct`` with ``forbid_unknown_fields=True``
and ranged fields (``Annotated[float, Meta(gt=0, le=3600)]``: the bounds also refuse ``nan``
and ``inf``), and calls :func:`parse_options`. Every mistake is one line naming the option and
the URL with its password replaced, as a :class:`BackendConfigError`:

>>> class Opts(msgspec.Struct, forbid_unknown_fields=True):
...     timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
>>> parse_options(split_url("redis://h/0?timeout_s=1.5"), Opts).timeout_s
1.5
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import msgspec

from cloudperf_core.backends import redact_url
from cloudperf_core.errors import BackendConfigError

__all__ = ["Annotated", "UrlParts", "parse_options", "split_url"]

S = TypeVar("S", bound=msgspec.Struct)

# "Expected `float` > 0.0, got ... - at `$.timeout_s`" -> the part before " - at".
_AT_FIELD = re.compile(r"\s*-\s*at `\$\.([^`]+)`$")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")


@dataclass(frozen=True, kw_only=True)
class UrlParts:
    """The pieces of a backend URL; ``password`` is kept out of ``repr``."""

    scheme: str
    location: str  # between ``//`` and the path, credentials dropped, case kept (a queue name)
    host: str | None
    port: int | None
    username: str | None
    password: str | None = field(repr=False)
    path: str
    query: str
    safe_url: str  # the URL with the password replaced: for messages and logs


def split_url(url: str) -> UrlParts:
    """Split ``url``; a malformed host or port is one :class:`BackendConfigError` line."""
    safe = redact_url(url)
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        # urlsplit: "Invalid IPv6 URL" (unbalanced brackets); .port: out of range or not a number
        raise BackendConfigError(f"malformed backend URL ({exc}): {safe}") from exc
    return UrlParts(
        scheme=parts.scheme.lower(),
        location=parts.netloc.rpartition("@")[2],
        host=host,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=parts.path,
        query=parts.query,
        safe_url=safe,
    )


def _known(struct_type: type[msgspec.Struct]) -> str:
    return ", ".join(sorted(struct_type.__struct_fields__))


def parse_options(url: UrlParts, struct_type: type[S], **fixed: Any) -> S:
    """The URL's query options as ``struct_type``; ``fixed`` adds values not from the query.

    Values are strings converted leniently (``"2"`` -> 2, ``"1"``/``"true"`` -> True); an
    option given twice, an unknown option, a wrong type or a value out of range is refused.
    """
    scheme = url.scheme.split("+", 1)[0]
    raw: dict[str, Any] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        if name in raw:
            raise BackendConfigError(f"{scheme}:// option {name} given twice in {url.safe_url}")
        if name in fixed:
            raise BackendConfigError(f"unknown {scheme}:// option {name!r} in {url.safe_url}")
        raw[name] = value
    try:
        return msgspec.convert(raw | fixed, struct_type, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        unknown = _UNKNOWN_FIELD.search(message)
        if unknown:
            raise BackendConfigError(
                f"unknown {scheme}:// option {unknown.group(1)!r} in {url.safe_url} "
                f"(known: {_known(struct_type)})"
            ) from exc
        at = _AT_FIELD.search(message)
        if at is None:
            raise BackendConfigError(f"{scheme}:// options in {url.safe_url}: {message}") from exc
        name = at.group(1)
        expected = message[: at.start()].replace("`", "")
        given = (raw | fixed).get(name, "")
        raise BackendConfigError(
            f"{scheme}:// option {name}={given!r}: {expected.lower()} ({url.safe_url})"
        ) from exc
