"""The probe protocol (probe token) and the probe list (users).

=====================================  ==========================================================
``POST /v1/probe/poll``                200 :class:`PollResponse` (no jobs while paused)
``POST /v1/probe/reports``             202 :class:`SubmitResponse` once queued; 404
                                       ``unknown_lease``, 409 ``foreign_lease`` /
                                       ``report_conflict``, 422 ``spec_mismatch`` /
                                       ``clock_skew`` / ``invalid_report``, 413 over the limit
``POST /v1/probe/heartbeat``           204
``GET /v1/probes``                     200 :class:`ProbeList` (viewer and up)
=====================================  ==========================================================

Every probe route answers 401 without a valid probe token and 403 ``probe_disabled`` for a
disabled probe (:mod:`cloudperf_core.api.security`). The work is in
:mod:`cloudperf_core.service.probes`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.catalog import MAX_PAGE, Probe
from cloudperf_core.protocol import (
    Heartbeat,
    PollRequest,
    PollResponse,
    ProbeList,
    ReportSubmission,
    SubmitResponse,
)
from cloudperf_core.service import probes


class ProbeListQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    after: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=min(MAX_PAGE, 1000))] = 100


def _probe(call: Call) -> Probe:
    assert call.probe is not None  # auth="probe" ran before the handler
    return call.probe


@endpoint(
    Operation(
        "POST",
        "/v1/probe/poll",
        "Lease jobs of this probe's location",
        "probe",
        "probe",
        body=PollRequest,
        response=PollResponse,
        errors=(503,),
    )
)
async def poll(call: Call) -> Response:
    request = await call.body(PollRequest)
    services = call.ctx.services
    answer = await probes.poll(
        probe=_probe(call),
        request=request,
        directory=await services.catalog(),
        jobs=await services.jobs(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        counters=await services.counters(),
        clock=call.ctx.clock,
        settings=call.ctx.settings,
    )
    return call.json(answer)


@endpoint(
    Operation(
        "POST",
        "/v1/probe/reports",
        "Hand in a report for a lease (accepted once it is on the reports queue)",
        "probe",
        "probe",
        body=ReportSubmission,
        response=SubmitResponse,
        status=202,
        errors=(404, 409, 422, 503),
    )
)
async def submit(call: Call) -> Response:
    submission = await call.body(ReportSubmission)
    services = call.ctx.services
    answer = await probes.submit(
        probe=_probe(call),
        submission=submission,
        jobs=await services.jobs(),
        reports=await services.reports(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        counters=await services.counters(),
        clock=call.ctx.clock,
        settings=call.ctx.settings,
    )
    return call.json(answer)


@endpoint(
    Operation(
        "POST",
        "/v1/probe/heartbeat",
        "A sign of life, with whether this probe's fping can send",
        "probe",
        "probe",
        body=Heartbeat,
        status=204,
        errors=(503,),
    )
)
async def heartbeat(call: Call) -> Response:
    beat = await call.body(Heartbeat)
    services = call.ctx.services
    await probes.heartbeat(
        probe=_probe(call),
        beat=beat,
        directory=await services.catalog(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        clock=call.ctx.clock,
    )
    return call.empty(204)


@endpoint(
    Operation(
        "GET",
        "/v1/probes",
        "Probes: online, last seen, jobs per minute, whether their fping can send",
        "viewer",
        "probes",
        query=ProbeListQuery,
        response=ProbeList,
        errors=(503,),
    )
)
async def list_probes(call: Call) -> Response:
    query = call.query(ProbeListQuery)
    services = call.ctx.services
    answer = await probes.list_probes(
        directory=await services.catalog(),
        cache=await services.cache(),
        liveness=await services.liveness(),
        counters=await services.counters(),
        clock=call.ctx.clock,
        settings=call.ctx.settings,
        after=query.after,
        limit=query.limit,
    )
    return call.json(answer)


ROUTES: list[ApiRoute] = [poll, submit, heartbeat, list_probes]
