"""Pausing the cyclic garbage collector around allocation-heavy library calls.

The parser and the batch statistics create hundreds of thousands of objects that can never
form a reference cycle; the cyclic GC would walk them again and again while they are made.
``paused_gc()`` turns it off for the duration of one call and always restores it: on return,
on any exception, and with overlapping pauses from several threads (the GC is process-wide, so
it comes back on only when the last pause ends, and only if it was on when the first began).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic GC inside the ``with`` block; restored however the block ends.

    >>> with paused_gc():
    ...     gc.isenabled()
    False
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
