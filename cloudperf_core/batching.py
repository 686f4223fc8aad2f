"""Cutting work into bounded pieces: the one chunking helper (SQL parameter lists, SQS
batches, multi-row statements)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from cloudperf_core.errors import InvalidSpecError

__all__ = ["chunks"]

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` as consecutive slices of at most ``size`` each, in order.

    >>> chunks([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise InvalidSpecError(f"a chunk holds at least one item, not {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]
