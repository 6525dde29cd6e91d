"""The audit capability's rules: who reads the audit trail and works the alert queue.

Holding the `audit` permission makes a compliance officer: the dashboard, the
alerts and (as they land) forensic queries. It gives no access to user data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from domain.access import Decision, Permission, Resource, Subject, allow, deny, permitted, rule_for


class AuditAction(StrEnum):
    READ_ALERTS = "read-alerts"
    WATCH_ALERTS = "watch-alerts"
    VIEW_DASHBOARD = "view-dashboard"
    READ_REFUSALS = "read-refusals"
    READ_SESSIONS = "read-sessions"
    ACKNOWLEDGE_ALERT = "acknowledge-alert"
    RESOLVE_ALERT = "resolve-alert"


OFFICERS_ONLY = "only compliance officers (the audit capability) may do this"


@dataclass(frozen=True)
class AuditTrail(Resource):
    """The recorded history and what is derived from it: alerts, the dashboard."""


@dataclass(frozen=True)
class AlertCase(Resource):
    """One alert, with who it is about and whose action raised it."""

    alert: UUID
    subject: str | None
    source_actor: str

    def describe(self) -> str:
        return f"alert:{self.alert}"


@rule_for(AuditTrail)
def _audit_trail(actor: Subject, action: StrEnum, resource: AuditTrail) -> Decision:
    if permitted(actor, Permission.AUDIT):
        return allow("compliance officers read the audit trail")
    return deny(OFFICERS_ONLY)


@rule_for(AlertCase)
def _alert_case(actor: Subject, action: StrEnum, resource: AlertCase) -> Decision:
    if not permitted(actor, Permission.AUDIT):
        return deny(OFFICERS_ONLY)
    if str(actor.id) == resource.subject:
        return deny("no one works an alert about themselves")
    if str(actor.id) == resource.source_actor:
        return deny("no one works an alert raised by their own action")
    return allow("compliance officers work the alert queue")
