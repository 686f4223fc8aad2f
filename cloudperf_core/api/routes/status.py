"""How the system is doing (viewer and up); ``GET /healthz`` (in meta) touches no backend."""

from __future__ import annotations

from starlette.responses import Response

from cloudperf_core.api.http import ApiRoute, Call, Operation, endpoint
from cloudperf_core.service.status import SystemStatus, system_status

__all__ = ["ROUTES"]


@endpoint(
    Operation(
        "GET", "/v1/status", "Catalogue sizes, discovery, data, probes online, rates and queue "
        "depths", "viewer", "status", response=SystemStatus,
    )
)  # fmt: skip
async def status(call: Call) -> Response:
    s = call.ctx.services
    return call.json(
        await system_status(
            catalog=await s.catalog(),
            store=await s.store(),
            jobs=await s.jobs(),
            liveness=await s.liveness(),
            counters=await s.counters(),
            settings=call.ctx.settings,
            clock=call.ctx.clock,
            reports=await s.reports(),
        )
    )


ROUTES: list[ApiRoute] = [status]
