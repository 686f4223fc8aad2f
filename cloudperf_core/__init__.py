"""cloudperf: asynchronous latency and packet-loss measurement built on fping.

The pure core: fping argv builder and parser, exact statistics, a mergeable quantile sketch,
the runner, and use-cases that talk to storage only through ports.

>>> from cloudperf_core import parse_fping
>>> [r.loss_ratio for r in parse_fping("10.0.0.1 : 0.31 - 0.29\\n")]
[0.3333333333333333]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudperf_core.errors import CloudperfError, FpingParseError

if TYPE_CHECKING:
    from cloudperf_core.fping.parser import parse_fping, parse_fping_output
    from cloudperf_core.sketch.latency import LatencySketch
    from cloudperf_core.stats import compute_stats

__all__ = [
    "CloudperfError",
    "FpingParseError",
    "LatencySketch",
    "compute_stats",
    "parse_fping",
    "parse_fping_output",
]

_LAZY = {
    "parse_fping": "cloudperf_core.fping.parser",
    "parse_fping_output": "cloudperf_core.fping.parser",
    "LatencySketch": "cloudperf_core.sketch.latency",
    "compute_stats": "cloudperf_core.stats",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import cloudperf_core` stays cheap (Lambda cold starts, CLI start-up).
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudperf_core' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
