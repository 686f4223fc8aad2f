"""The ``cloudperf`` command (driving face 2): argument parsing and output only."""

from __future__ import annotations

from cloudperf_core.cli.main import main

__all__ = ["main"]
