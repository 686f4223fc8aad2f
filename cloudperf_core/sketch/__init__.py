"""The mergeable latency sketch: one byte layout (``layout``), one merger (``merge``).

``latency`` holds :class:`LatencySketch` (build, query, serialize); ``layout`` reads and
writes the bytes (one sketch or many at once); ``merge`` merges serialized sketches, many
groups at once (ingest, retention and queries use it).
"""

from __future__ import annotations

from cloudperf_core.sketch.latency import LatencySketch
from cloudperf_core.sketch.merge import merge_groups, merge_serialized

__all__ = ["LatencySketch", "merge_groups", "merge_serialized"]
