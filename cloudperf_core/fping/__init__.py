"""fping integration: the output parser (``parser``) and the argv builder (``argv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudperf_core.fping.parser import FpingStreamParser, parse_fping, parse_fping_output

__all__ = ["FpingStreamParser", "parse_fping", "parse_fping_output"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the argv builder must not pull in the parser (and numpy).
    if name in __all__:
        from cloudperf_core.fping import parser

        return getattr(parser, name)
    raise AttributeError(f"module 'cloudperf_core.fping' has no attribute {name!r}")
