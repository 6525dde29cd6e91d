"""Sessions, for compliance officers following up an alert: who was logged in, from where."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import AlertUseCases, CurrentPrincipal, IdentityUseCases, ReadModels
from api.schemas import Digits, Moment, error_responses
from domain.audit_access import AuditAction
from projections.identity import sessions

router = APIRouter(
    prefix="/api/v1/sessions", tags=["users"], responses=error_responses(401, 403, 422, 503)
)


class SessionOut(BaseModel):
    id: str
    user_id: str
    started_at: Moment
    expires_at: Moment
    last_seen: Moment
    client_ip: str | None
    ended: bool
    ended_reason: str | None


@router.get("")
def list_sessions(
    officers: AlertUseCases,
    identity: IdentityUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    user_id: Annotated[UUID | None, Query(description="only this person's sessions")] = None,
    limit: Annotated[int, Query(ge=1, le=1000), Digits] = 100,
) -> list[SessionOut]:
    """The newest sessions, of everyone or of one person (officers only; each read recorded)."""
    officer = officers.officer(AuditAction.READ_SESSIONS)
    read_models.wait_until_current(["sessions"])
    query = select(sessions).order_by(sessions.c.started_at.desc()).limit(limit)
    if user_id is not None:
        query = query.where(sessions.c.user_id == str(user_id))
    with read_models.engine.connect() as conn:
        rows = conn.execute(query).all()
    identity.record_officer_read(officer, "sessions", str(user_id) if user_id else None, len(rows))
    return [
        SessionOut(
            id=r.id,
            user_id=r.user_id,
            started_at=r.started_at,
            expires_at=r.expires_at,
            last_seen=r.last_seen,
            client_ip=r.client_ip,
            ended=r.ended,
            ended_reason=r.ended_reason,
        )
        for r in rows
    ]
