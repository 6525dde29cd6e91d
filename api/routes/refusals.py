"""Refused attempts, for compliance officers: who tried what, on whom, from where, and why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection

from api.deps import AlertUseCases, CurrentPrincipal, ReadModels
from api.schemas import MAX_POSITION, Digits, Moment, error_responses
from domain.audit_access import AuditAction
from projections.identity import denied, people_labels

router = APIRouter(
    prefix="/api/v1/refusals", tags=["alerts"], responses=error_responses(401, 403, 422, 503)
)


class RefusalOut(BaseModel):
    position: int
    at: Moment
    actor: str = Field(description="who tried (an id, or anonymous)")
    actor_name: str | None = Field(description='"Name <email>" when the actor is a person')
    action: str
    target: str | None = Field(description="what it was tried on: a user id, an email, team:<id>")
    target_name: str | None
    reason: str
    client_ip: str | None
    count: int = Field(description="refusals this row stands for (a rate limit folds many)")


class RefusalPage(BaseModel):
    refusals: list[RefusalOut]
    next_after: int


def refusals_with_names(conn: Connection, rows: Sequence[Any]) -> list[RefusalOut]:
    """Refusals from the read model, naming actor and target where they are people."""
    labels = people_labels(conn, {r.actor_id for r in rows} | {r.target or "" for r in rows})
    return [
        RefusalOut(
            position=r.position,
            at=r.at,
            actor=r.actor_id,
            actor_name=labels.get(r.actor_id),
            action=r.action,
            target=r.target,
            target_name=labels.get(r.target or ""),
            reason=r.reason,
            client_ip=r.client_ip,
            count=r.count,
        )
        for r in rows
    ]


@router.get("")
def list_refusals(
    officers: AlertUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="only refusals after this position"), Digits
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000), Digits] = 100,
) -> RefusalPage:
    """Refused attempts in log order (officers only); page with `after`."""
    officers.officer(AuditAction.READ_REFUSALS)
    read_models.wait_until_current(["denied", "users"])
    with read_models.engine.connect() as conn:
        rows = list(
            conn.execute(
                select(denied)
                .where(denied.c.position > after)
                .order_by(denied.c.position)
                .limit(limit)
            ).all()
        )
        page = refusals_with_names(conn, rows)
    return RefusalPage(refusals=page, next_after=rows[-1].position if rows else after)
