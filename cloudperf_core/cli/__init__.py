"""The ``cloudperf`` command (driving face 2): argument parsing and output only."""

from __future__ import annotations

from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m cloudperf_core.cli.main` does not find its module imported already.
    if name == "main":
        from cloudperf_core.cli.main import main

        return main
    raise AttributeError(f"module 'cloudperf_core.cli' has no attribute {name!r}")
