"""Liveness and readiness of the service, its store and every read model."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentSystem
from api.schemas import Health, ProjectionOut, StallOut

router = APIRouter(tags=["health"])


def projection_states(system: CurrentSystem) -> list[ProjectionOut]:
    return [
        ProjectionOut(
            name=s.name,
            position=s.position,
            lag=s.lag,
            state=s.state,
            stall=StallOut(position=s.stall.position, reason=s.stall.reason, since=s.stall.since)
            if s.stall
            else None,
        )
        for s in system.projections.status()
    ]


@router.get("/healthz")
def healthz(system: CurrentSystem) -> Health:
    """Whether the service is up, its store answers, and every read model follows the log.

    `status` is `degraded` (still 200, so the service stays reachable) when a
    projection is stalled; `projections` says which, where and why.
    """
    projections = projection_states(system)
    stalled = any(p.state == "stalled" for p in projections)
    return Health(
        status="degraded" if stalled else "ok",
        store=system.settings.store.kind,
        position=system.ledger.head(),
        projections=projections,
    )
