"""Probe administration and pause/resume (admin role): the same use-cases as ``cloudperf
admin`` (:mod:`cloudperf_core.service.directory`).

A probe's token is in the answer of ``POST /v1/admin/probes`` and of ``rotate-token`` once;
only its SHA-256 is kept, so it cannot be shown again (rotate it instead). Every answer
carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.auth import PROBE_ID_RE
from cloudperf_core.catalog import MAX_NAME_LEN, Probe
from cloudperf_core.errors import NotFoundError
from cloudperf_core.service import directory

__all__ = ["ROUTES"]

ProbeName = Annotated[
    str,
    msgspec.Meta(
        pattern=PROBE_ID_RE.pattern,
        description="1-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
    ),
]


class NewProbe(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: ProbeName
    location: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LEN)]


class ProbeInfo(msgspec.Struct, kw_only=True):
    """A probe as an administrator sees it (never its token or token hash)."""

    probe_id: str
    location: str | None
    enabled: bool
    created_at_ms: int
    last_seen_ms: int | None = None

    @classmethod
    def of(cls, probe: Probe) -> ProbeInfo:
        return cls(
            probe_id=probe.probe_id,
            location=probe.location,
            enabled=probe.enabled,
            created_at_ms=probe.created_at_ms,
            last_seen_ms=probe.last_seen_ms,
        )


class ProbeToken(msgspec.Struct, kw_only=True):
    """The probe and its bearer token, shown this once."""

    probe: ProbeInfo
    token: str


class PauseState(msgspec.Struct, kw_only=True):
    paused: bool


_PROBE = "/v1/admin/probes/{name}"


@endpoint(
    Operation(
        "POST", "/v1/admin/probes", "Register a probe at a catalogue location; its token is "
        "in the answer, once", "admin", "admin", NewProbe, None, ProbeToken, 201,
        (400, 401, 403, 404, 409, 415),
    )
)  # fmt: skip
async def register_probe(call: Call) -> Response:
    body = await call.body(NewProbe)
    catalog = await call.ctx.services.catalog()
    probe, token = await directory.register_probe(
        catalog, catalog, call.ctx.clock, body.name, body.location
    )
    return call.json(ProbeToken(probe=ProbeInfo.of(probe), token=token))


@endpoint(
    Operation(
        "POST", f"{_PROBE}/rotate-token", "A new token for the probe (the old one stops "
        "working at once); in the answer, once", "admin", "admin", None, None, ProbeToken,
        200, (401, 403, 404),
    )
)  # fmt: skip
async def rotate_token(call: Call) -> Response:
    catalog = await call.ctx.services.catalog()
    token = await directory.rotate_token(catalog, call.path("name"))
    probe = await catalog.get_probe(call.path("name"))
    if probe is None:  # removed in between
        raise NotFoundError(f"no probe named {call.path('name')!r}")
    return call.json(ProbeToken(probe=ProbeInfo.of(probe), token=token))


async def _set_enabled(call: Call, enabled: bool) -> Response:
    catalog = await call.ctx.services.catalog()
    probe = await directory.set_probe_enabled(catalog, call.path("name"), enabled)
    return call.json(ProbeInfo.of(probe))


@endpoint(
    Operation(
        "POST", f"{_PROBE}/enable", "Accept the probe's calls again", "admin", "admin", None,
        None, ProbeInfo, 200, (401, 403, 404),
    )
)  # fmt: skip
async def enable_probe(call: Call) -> Response:
    return await _set_enabled(call, True)


@endpoint(
    Operation(
        "POST", f"{_PROBE}/disable", "Refuse the probe's calls (403 probe_disabled) until "
        "enabled", "admin", "admin", None, None, ProbeInfo, 200, (401, 403, 404),
    )
)  # fmt: skip
async def disable_probe(call: Call) -> Response:
    return await _set_enabled(call, False)


async def _set_paused(call: Call, paused: bool) -> Response:
    settings = await directory.set_paused(await call.ctx.services.catalog(), paused)
    return call.json(PauseState(paused=settings.paused))


@endpoint(
    Operation(
        "POST", "/v1/admin/pause", "Pause: the scheduler issues no job, polls get none",
        "admin", "admin", None, None, PauseState, 200, (401, 403),
    )
)  # fmt: skip
async def pause(call: Call) -> Response:
    return await _set_paused(call, True)


@endpoint(
    Operation(
        "POST", "/v1/admin/resume", "Resume issuing jobs", "admin", "admin", None, None,
        PauseState, 200, (401, 403),
    )
)  # fmt: skip
async def resume(call: Call) -> Response:
    return await _set_paused(call, False)


ROUTES: list[ApiRoute] = [
    register_probe,
    rotate_token,
    enable_probe,
    disable_probe,
    pause,
    resume,
]
