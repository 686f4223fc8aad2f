"""The mergeable latency sketch: one byte layout (``layout``), one merger (``merge``).

``latency`` holds :class:`LatencySketch` (build, query, serialize); ``batch`` merges many
serialized sketches per key in one vectorized pass (ingest and retention use it).
"""

from __future__ import annotations

from cloudperf_core.sketch.latency import LatencySketch, merge_serialized

__all__ = ["LatencySketch", "merge_serialized"]
