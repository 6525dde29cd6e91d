"""The live compliance dashboard: one page, no build step, fed by JSON and the alert stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.engine import Connection

from adapters.bootstrap import System
from api.deps import AlertUseCases, CurrentPrincipal, CurrentSystem
from api.routes.alerts import alert_out
from api.routes.health import projection_states
from api.routes.refusals import RefusalOut, refusals_with_names
from api.schemas import AlertOut, ProjectionOut, error_responses
from audit_queries.export import Manifest
from domain.audit_access import AuditAction
from projections.alerts import alerts, open_by_severity
from projections.compliance import certification_listing, non_compliant_members
from projections.identity import denied, sessions, team_members, teams, users

router = APIRouter(tags=["dashboard"])
PAGE = Path(__file__).resolve().parent.parent / "dashboard.html"


class PeopleOut(BaseModel):
    total: int
    active: int
    locked: int
    waiting: int
    live_sessions: int


class TeamUse(BaseModel):
    name: str
    members: int
    storage_quota_bytes: int
    vm_quota: int
    cpu_quota: int


class ForensicActivity(BaseModel):
    position: int
    at: datetime
    who: str  # an email where the actor is a person
    what: str


class ForensicsOut(BaseModel):
    exported_upto: int  # the forensic export holds the history up to this position
    head: int
    recent: list[ForensicActivity]  # who asked the history what, newest first
    problem: str | None = None  # why the export could not be brought up to date


# What officers and auditors did with the history, as the dashboard says it.
FORENSIC_ACTIVITY = {
    "QueryRun.Recorded": "ran a forensic query",
    "ForensicQuestion.Asked": "asked a forensic question",
    "HistoryRead.Recorded": "looked at the past state of the organisation",
    "ComplianceReport.Generated": "generated a compliance report",
    "ForensicExport.Written": "exported the history",
    "ExportRead.Recorded": "copied a file of the forensic export",
    "AccessToken.Created": "created an API token",
    "AccessToken.Revoked": "revoked an API token",
}


class CertificationDue(BaseModel):
    user_id: str
    email: str | None
    name: str | None
    requirement: str
    expires_at: datetime | None


class CertificationsOut(BaseModel):
    within_days: int  # "expiring" means within this many days (the alert rule's window)
    expiring: list[CertificationDue]  # soonest first
    expired: list[CertificationDue]  # most recent first, not re-certified since
    expiring_total: int
    expired_total: int


class NonCompliantMember(BaseModel):
    project_id: str
    project: str
    user_id: str
    email: str | None
    name: str | None
    reason: str | None
    since: datetime | None


# Each compliance panel shows at most this many rows (the totals say how many there are).
PANEL_ROWS = 50


class Dashboard(BaseModel):
    generated_at: datetime
    open_alerts: dict[str, int]
    recent_alerts: list[AlertOut]
    denied: list[RefusalOut]
    people: PeopleOut
    teams: list[TeamUse]
    projection_lag: dict[str, int]
    projections: list[ProjectionOut]
    forensics: ForensicsOut
    certifications: CertificationsOut
    non_compliant: list[NonCompliantMember]  # longest-standing first
    # Filled in as their capabilities land (vault, VMs).
    storage_used: None = None
    vms_running: None = None


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    """The page itself holds no data; everything it shows needs an officer's session."""
    return PAGE.read_text()


@router.get("/api/v1/dashboard", responses=error_responses(401, 403))
def summary(
    officers: AlertUseCases, principal: CurrentPrincipal, system: CurrentSystem
) -> Dashboard:
    """What the compliance dashboard shows, from the read models (officers only)."""
    officers.officer(AuditAction.VIEW_DASHBOARD)
    runner = system.projections
    now = system.clock.now()
    with runner.engine.connect() as conn:
        open_alerts = open_by_severity(conn)
        recent_alerts = conn.execute(
            select(alerts).order_by(alerts.c.position.desc()).limit(25)
        ).all()
        recent_denied = conn.execute(
            select(denied).order_by(denied.c.position.desc()).limit(15)
        ).all()
        people = conn.execute(
            select(
                func.count(),
                func.sum(cast(users.c.active, Integer)),
                func.sum(cast(users.c.locked, Integer)),
            ).select_from(users)
        ).one()
        live_sessions = conn.execute(
            select(func.count())
            .select_from(sessions)
            .where(sessions.c.ended.is_(False), sessions.c.expires_at > now)
        ).scalar_one()
        members: dict[str, int] = dict(
            conn.execute(
                select(team_members.c.team_id, func.count()).group_by(team_members.c.team_id)
            ).all()
        )
        team_rows = conn.execute(select(teams).order_by(teams.c.name)).all()
        denied_page = refusals_with_names(conn, recent_denied)
        certifications = certification_panel(conn, now, system.rules.certification_expiring.days)
        lapsed = non_compliant_members(conn)
    total, active, locked = people[0] or 0, people[1] or 0, people[2] or 0
    projections = projection_states(system)
    return Dashboard(
        generated_at=now,
        open_alerts=open_alerts,
        recent_alerts=[alert_out(r) for r in recent_alerts],
        denied=denied_page,
        people=PeopleOut(
            total=total,
            active=active,
            locked=locked,
            waiting=total - active,
            live_sessions=live_sessions,
        ),
        teams=[
            TeamUse(
                name=t.name,
                members=members.get(t.id, 0),
                storage_quota_bytes=t.storage_bytes,
                vm_quota=t.vm_count,
                cpu_quota=t.cpu_cores,
            )
            for t in team_rows
        ],
        projection_lag={p.name: p.lag for p in projections},
        projections=projections,
        forensics=forensic_activity(system),
        certifications=certifications,
        non_compliant=[NonCompliantMember(**m) for m in lapsed[:PANEL_ROWS]],
    )


def certification_panel(conn: Connection, now: datetime, days: int) -> CertificationsOut:
    """Live certifications expiring within `days`, and those whose expiry has passed."""
    expiring = certification_listing(conn, expiring_before=now + timedelta(days=days), now=now)
    expired = [c for c in certification_listing(conn, now=now) if c["state"] == "expired"]
    expired.reverse()  # the listing is soonest expiry first

    def due(c: dict[str, Any]) -> CertificationDue:
        return CertificationDue(
            user_id=c["user_id"],
            email=c["email"],
            name=c["name"],
            requirement=c["requirement"],
            expires_at=c["expires_at"],
        )

    return CertificationsOut(
        within_days=days,
        expiring=[due(c) for c in expiring[:PANEL_ROWS]],
        expired=[due(c) for c in expired[:PANEL_ROWS]],
        expiring_total=len(expiring),
        expired_total=len(expired),
    )


def forensic_activity(system: System) -> ForensicsOut:
    """The export's reach and the latest uses of the history; a failure is shown, not hidden."""
    from audit_queries.fresh import fresh_connection

    head = system.ledger.head()
    types = ", ".join(f"'{t}'" for t in FORENSIC_ACTIVITY)
    try:
        with fresh_connection(system) as connection:
            exported = Manifest.load(system.settings.forensic_export_dir).position
            rows = connection.execute(
                "SELECT position, recorded_at, coalesce(actor_email, actor_id), event_type "
                f"FROM events WHERE event_type IN ({types}) ORDER BY position DESC LIMIT 10"
            ).fetchall()
    except Exception as error:  # the dashboard still shows everything else, and why not this
        return ForensicsOut(
            exported_upto=0, head=head, recent=[], problem=" ".join(str(error).split())[:300]
        )
    return ForensicsOut(
        exported_upto=exported,
        head=head,
        recent=[
            ForensicActivity(position=p, at=at, who=who, what=FORENSIC_ACTIVITY[kind])
            for p, at, who, kind in rows
        ],
    )
