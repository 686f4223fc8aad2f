"""fping 5.5 ``-J`` JSON lines (fping-output.md §2.11); unknown object types are ignored."""

from __future__ import annotations

from typing import Any

import msgspec

from cloudperf_core.fping._grammar import INT64_MAX, ms_to_us
from cloudperf_core.fping._state import Accumulator
from cloudperf_core.limits import MAX_RTT_US


class MalformedJson(Exception):
    """A JSON line that is not valid JSON or has the wrong field types (internal)."""


def _us(value: Any, notes: list[str]) -> int | None:
    """An RTT in µs; ``None`` (lost, noted) when the number cannot be a true RTT."""
    # sprint_tm output is valid JSON; re-render through repr so the text rules apply.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedJson
    text = repr(value) if isinstance(value, float) else str(value)
    us = ms_to_us(text)
    if us is None or us < 0 or us > MAX_RTT_US:
        notes.append(text)
        return None
    return us


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise MalformedJson
    return value


def _host(body: dict[str, Any]) -> str:
    host = body.get("host")
    if not isinstance(host, str) or not host:
        raise MalformedJson
    return host


def handle_json(acc: Accumulator, line: str, notes: list[str]) -> None:
    """Apply one JSON line; raises ``MalformedJson`` if it cannot be understood.

    Impossible RTTs count as lost and are appended to ``notes``.
    """
    try:
        obj = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise MalformedJson from exc
    if not isinstance(obj, dict) or len(obj) != 1:
        raise MalformedJson
    ((kind, body),) = obj.items()
    if not isinstance(body, dict):
        raise MalformedJson
    if kind == "resp":
        acc.probe(_host(body), _int(body.get("seq")), _us(body.get("rtt"), notes))
    elif kind == "timeout":
        acc.probe(_host(body), _int(body.get("seq")), None)
    elif kind in ("summary", "intSum"):
        host = _host(body)
        xmt, rcv = _int(body.get("xmt")), _int(body.get("rcv"))
        rtt = None
        if "rttMin" in body:
            low = _us(body["rttMin"], notes)
            avg, high = _us(body.get("rttAvg"), notes), _us(body.get("rttMax"), notes)
            if low is not None and avg is not None and high is not None:
                rtt = (low, avg, high)
        if kind == "intSum":
            acc.first(host)  # interval deltas: order only, the final summary wins
            return
        tr = acc.row(host)
        if tr is not None:
            acc.set_summary(tr, xmt, rcv, rtt)
    elif kind == "vSum":
        host, values = _host(body), body.get("values")
        if not isinstance(values, list):
            raise MalformedJson
        rtts = [None if v is None else _us(v, notes) for v in values]
        tr = acc.row(host)
        if tr is not None:
            acc.set_crow(tr, rtts)
    elif kind == "warning":
        message = body.get("message")
        if not isinstance(message, str):
            raise MalformedJson
        # Without -q fping also prints the plain "NAME: message" line: one target, one error.
        tr = acc.slot(_host(body), 0)
        if message not in tr.errors:
            tr.errors.append(message)
    # "stats" and unknown types carry nothing per target: ignored (forward compatibility).
