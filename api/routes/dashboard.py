"""The live compliance dashboard: one page, no build step, fed by JSON and the alert stream."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Integer, cast, func, select

from api.deps import App, CurrentPrincipal
from api.routes.alerts import alert_json
from projections.alerts import alerts, open_by_severity
from projections.identity import denied, sessions, team_members, teams, users

router = APIRouter(tags=["dashboard"])
PAGE = Path(__file__).resolve().parent.parent / "dashboard.html"


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    """The page itself holds no data; everything it shows needs an officer's session."""
    return PAGE.read_text()


@router.get("/api/v1/dashboard")
def summary(request: Request, app: App, principal: CurrentPrincipal) -> dict[str, Any]:
    """What the compliance dashboard shows, from the read models (officers only)."""
    app.require_audit("view-dashboard")
    runner = request.app.state.projections
    now = datetime.now(tz=UTC)
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
        members = dict(
            conn.execute(
                select(team_members.c.team_id, func.count()).group_by(team_members.c.team_id)
            ).all()
        )
        team_rows = conn.execute(select(teams).order_by(teams.c.name)).all()
    total, active, locked = people[0] or 0, people[1] or 0, people[2] or 0
    return {
        "generated_at": now.isoformat(),
        "open_alerts": open_alerts,
        "recent_alerts": [alert_json(r) for r in recent_alerts],
        "denied": [
            {
                "position": r.position,
                "at": r.at.isoformat(),
                "actor": r.actor_id,
                "action": r.action,
                "target": r.target,
                "reason": r.reason,
                "client_ip": r.client_ip,
            }
            for r in recent_denied
        ],
        "people": {
            "total": total,
            "active": active,
            "locked": locked,
            "waiting": total - active,
            "live_sessions": live_sessions,
        },
        "teams": [
            {
                "name": t.name,
                "members": members.get(t.id, 0),
                "storage_quota_bytes": t.storage_bytes,
                "vm_quota": t.vm_count,
                "cpu_quota": t.cpu_cores,
            }
            for t in team_rows
        ],
        "projection_lag": runner.lag(),
        # Filled in as their capabilities land (compliance, vault, VMs).
        "certifications": None,
        "non_compliant": None,
        "storage_used": None,
        "vms_running": None,
    }
