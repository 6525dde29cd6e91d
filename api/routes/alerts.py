"""Alerts for compliance officers: the queue, acknowledging and resolving, and a live stream.

The stream is Server-Sent Events. Each event's id is the alert's position in
the audit log. A client that reconnects with `Last-Event-ID` gets exactly what it
missed: the alerts read model fills in log order, so "after position N" can
neither skip nor repeat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import AlertUseCases, CurrentPrincipal, ReadModels
from api.schemas import MAX_POSITION, AlertOut, AlertPage, Digits, error_responses
from api.token_scope import requires_scope
from domain.alerts import SEVERITIES, severity_rank
from domain.audit_access import AuditAction
from domain.errors import InvalidInput
from projections.alerts import alerts

router = APIRouter(
    prefix="/api/v1/alerts",
    tags=["alerts"],
    responses=error_responses(401, 403, 422),
)

KEEPALIVE_SECONDS = 15.0
WAIT_SECONDS = 1.0


class Note(BaseModel):
    note: str = Field(default="", max_length=2000)


def alert_out(row: Any) -> AlertOut:
    return AlertOut(
        id=row.id,
        position=row.position,
        raised_at=row.raised_at,
        rule=row.rule,
        type=row.type,
        severity=row.severity,
        subject=row.subject,
        subject_name=row.subject_name,
        message=row.message,
        actor=row.source_actor,
        actor_name=row.actor_name,
        source_position=row.source_position,
        status=row.status,
    )


def query_alerts(
    engine: Any,
    *,
    after: int,
    limit: int,
    min_severity: str | None,
    type: str | None,
    actor: str | None,
) -> list[Any]:
    query = select(alerts).where(alerts.c.position > after)
    if min_severity:
        query = query.where(alerts.c.severity_rank >= severity_rank(min_severity))
    if type:
        query = query.where(alerts.c.type == type)
    if actor:
        query = query.where(alerts.c.source_actor == actor)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(alerts.c.position).limit(limit)).all())


SeverityQuery = Query(None, description=f"at least this severity: {', '.join(SEVERITIES)}")


@router.get("")
def list_alerts(
    officers: AlertUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="only alerts after this log position"), Digits
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000), Digits] = 100,
    min_severity: str | None = SeverityQuery,
    type: str | None = Query(None, description='e.g. "User Locked"'),
    actor: str | None = Query(None, description="the actor whose action raised it"),
) -> AlertPage:
    """Past alerts in log order; page with `after` = the last position you got."""
    officers.officer(AuditAction.READ_ALERTS)
    rows = query_alerts(
        read_models.engine,
        after=after,
        limit=limit,
        min_severity=min_severity,
        type=type,
        actor=actor,
    )
    return AlertPage(
        alerts=[alert_out(r) for r in rows],
        next_after=rows[-1].position if rows else after,
    )


def _last_event_id(request: Request) -> int:
    """The Last-Event-ID header as a position; a malformed or impossible one is a 422."""
    header = request.headers.get("last-event-id", "").strip()
    if not header:
        return 0
    if not (header.isascii() and header.isdigit()) or int(header) > MAX_POSITION:
        raise InvalidInput("Last-Event-ID", f"a log position from 0 to {MAX_POSITION} is expected")
    return int(header)


@router.post("/{alert_id}/acknowledge", status_code=204, responses=error_responses(404, 409))
def acknowledge(
    alert_id: UUID, body: Note, officers: AlertUseCases, principal: CurrentPrincipal
) -> Response:
    officers.acknowledge(alert_id, body.note)
    return Response(status_code=204)


@router.post("/{alert_id}/resolve", status_code=204, responses=error_responses(404, 409))
def resolve(
    alert_id: UUID, body: Note, officers: AlertUseCases, principal: CurrentPrincipal
) -> Response:
    officers.resolve(alert_id, body.note)
    return Response(status_code=204)


@router.get(
    "/stream",
    dependencies=[Depends(requires_scope("stream"))],  # SIEMs may follow it with an API token
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alerts as SSE"}},
)
async def stream(
    request: Request,
    officers: AlertUseCases,
    principal: CurrentPrincipal,
    read_models: ReadModels,
    min_severity: str | None = SeverityQuery,
    type: str | None = Query(None),
    actor: str | None = Query(None),
    last_event_id: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="or the Last-Event-ID header"),
        Digits,
    ] = None,
) -> StreamingResponse:
    """Alerts as they are raised (text/event-stream), resumable with Last-Event-ID."""
    await run_in_threadpool(officers.officer, AuditAction.WATCH_ALERTS)
    if min_severity:
        severity_rank(min_severity)  # a bad value is a 422 now, not a broken stream
    after = last_event_id if last_event_id is not None else _last_event_id(request)
    runner = read_models

    async def events() -> AsyncIterator[str]:
        nonlocal after
        idle_rounds = 0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            seen = runner.pages_committed
            rows = await run_in_threadpool(
                query_alerts,
                runner.engine,
                after=after,
                limit=100,
                min_severity=min_severity,
                type=type,
                actor=actor,
            )
            for row in rows:
                after = row.position
                data = alert_out(row).model_dump_json()
                yield f"id: {row.position}\nevent: alert\ndata: {data}\n\n"
            if rows:
                continue
            # Woken by the read models' progress, not by polling them; the timeout
            # bounds how long a client that hung up keeps its worker thread.
            progressed = await run_in_threadpool(runner.wait_for_progress, seen, WAIT_SECONDS)
            idle_rounds = idle_rounds + 1 if progressed == seen else 0
            if idle_rounds * WAIT_SECONDS >= KEEPALIVE_SECONDS:
                idle_rounds = 0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
