"""Alerts: the rules process that raises them, and the read model officers page through.

The rules process follows the log like any projection. Its memory (last login
network per user, recent denials per actor, out-of-hours days) lives in its own
tables, committed with its tracking position. Alerts it raises are events in the
store, recorded as `system:alert-rule:<rule>`, with ids derived from rule and
position, so replaying a page after a crash raises nothing twice.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection

from domain.alerts import SEVERITIES, Alert, severity_rank
from domain.certifications import Certification, Requirement
from domain.denials import DeniedAttempt
from domain.envelope import SYSTEM_ROLE, AuditContext, acting_as
from domain.exports import ForensicExport
from domain.identity import Identity
from domain.projects import Project
from domain.users import User
from projections.alert_rules import AlertRules
from projections.identity import topics
from projections.runner import Process, Projection, StoredText, UtcDateTime, metadata

last_login = Table(
    "rm_alert_last_login",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("client_ip", String(64), nullable=False),
)
recent_denials = Table(
    "rm_alert_recent_denials",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("actor_key", String(100), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
)
out_of_hours_days = Table(
    "rm_alert_out_of_hours",
    metadata,
    Column("actor_id", String(80), primary_key=True),
    Column("day", Date, primary_key=True),
)


class AlertRulesProcess(Process):
    name = "alert-rules"
    tables = (last_login, recent_denials, out_of_hours_days)
    topics = (
        topics(
            User,
            "Registered",
            "Activated",
            "Deactivated",
            "ReleasedFromLastTeam",
            "RoleChanged",
            "Locked",
            "SessionStarted",
            "LoginFailed",
        )
        | topics(DeniedAttempt, "Recorded")
        | topics(ForensicExport, "Written")
        | topics(Certification, "Certified", "Recertified", "Expired")
        | topics(Project, "Parked", "Unparked", "MemberLapsed")
    )

    def __init__(self, app: Any, rules: AlertRules) -> None:
        super().__init__()
        self.app = app
        self.rules = rules
        self._pending: list[dict[str, Any]] = []
        self._recorded = False

    def before_page(self, conn: Connection) -> None:
        self._pending = []

    def handle(self, conn: Connection, event: Any, position: int, *, recorded: bool) -> None:
        # Memory moves on either way; alerts are raised only for what is not recorded yet.
        self._recorded = recorded
        # The class's qualified name: "Recorded" alone names a denial, a directory
        # read and more, so events are told apart by aggregate and event.
        kind = type(event).__qualname__
        r = self.rules
        subject = str(event.originator_id)
        if kind == "User.Registered" and r.user_added.enabled:
            self._raise(
                "user_added",
                position,
                "User Added",
                r.user_added.severity,
                subject,
                f"{self._who(subject)} registered an account",
                event,
            )
        elif kind in ("User.Activated", "User.Deactivated", "User.ReleasedFromLastTeam") and (
            r.state_changed.enabled
        ):
            what = {
                "User.Activated": "activated",
                "User.Deactivated": "deactivated",
                "User.ReleasedFromLastTeam": "removed from its last team and deactivated",
            }[kind]
            self._raise(
                "state_changed",
                position,
                "State Changed",
                r.state_changed.severity,
                subject,
                f"{self._who(subject)}: account {what}",
                event,
            )
        elif kind == "User.RoleChanged" and r.role_changed.enabled:
            self._raise(
                "role_changed",
                position,
                "Role Changed",
                r.role_changed.severity,
                subject,
                f"{self._who(subject)}: role changed from {event.before} to {event.after} "
                f"by {self._who(event.actor_id)}",
                event,
            )
        elif kind == "User.Locked" and r.user_locked.enabled:
            self._raise(
                "user_locked",
                position,
                "User Locked",
                r.user_locked.severity,
                subject,
                f"{self._who(subject)}: account locked: {event.reason}",
                event,
            )
        elif kind == "User.SessionStarted":
            self._login(conn, event, position, subject)
        elif kind in ("DeniedAttempt.Recorded", "User.LoginFailed"):
            self._denial(conn, event, position)
        elif kind == "ForensicExport.Written" and r.history_exported.enabled:
            self._raise(
                "history_exported",
                position,
                "History Exported",
                r.history_exported.severity,
                None,
                f"positions {event.from_position + 1} to {event.to_position} of the history "
                f"({event.events} events) were copied to {event.destination} by "
                f"{self._who(event.actor_id)}",
                event,
            )
        elif kind.startswith(("Certification.", "Project.")):
            self._compliance(kind, event, position)
        if kind in (
            "User.SessionStarted",
            "User.RoleChanged",
            "User.Activated",
            "User.Deactivated",
        ):
            self._hours(conn, event, position)

    def _compliance(self, kind: str, event: Any, position: int) -> None:
        if self._recorded:
            return  # no memory to keep: spare the loads the messages need
        r = self.rules
        if kind in ("Certification.Certified", "Certification.Recertified"):
            # Certified already within the window: the expiry process's rounds only
            # warn of certifications that enter it later (see `raise_expiring`).
            rule = r.certification_expiring
            if rule.enabled and in_expiry_window(event.expires_at, event.timestamp, rule.days):
                held = _find(self.app, Certification, event.originator_id)
                if held is not None:
                    user_id = str(held.user_id)
                    self._raise(
                        "certification_expiring",
                        position,
                        EXPIRING,
                        rule.severity,
                        user_id,
                        expiring_message(
                            self._who(user_id),
                            requirement_name(self.app, held.requirement_id),
                            event.expires_at,
                            rule.days,
                        ),
                        event,
                    )
        elif kind == "Certification.Expired" and r.certification_expired.enabled:
            held = _find(self.app, Certification, event.originator_id)
            if held is not None:
                user_id = str(held.user_id)
                self._raise(
                    "certification_expired",
                    position,
                    "Certification expired",
                    r.certification_expired.severity,
                    user_id,
                    f"{self._who(user_id)}: {requirement_name(self.app, held.requirement_id)} "
                    f"certification expired {_moment(event.expired_at)}",
                    event,
                )
        elif kind == "Project.MemberLapsed" and r.member_non_compliant.enabled:
            user_id = str(event.user_id)
            self._raise(
                "member_non_compliant",
                position,
                "Member non-compliant",
                r.member_non_compliant.severity,
                user_id,
                f"{self._who(user_id)} is not compliant in project "
                f"{project_name(self.app, event.originator_id)}: {'; '.join(event.reasons)}",
                event,
            )
        elif kind in ("Project.Parked", "Project.Unparked"):
            parked = kind == "Project.Parked"
            switch = r.project_parked if parked else r.project_unparked
            if not switch.enabled:
                return
            name = project_name(self.app, event.originator_id)
            what = f"parked: {event.reason}" if parked else "unparked: its grants are back"
            self._raise(
                "project_parked" if parked else "project_unparked",
                position,
                "Project parked" if parked else "Project unparked",
                switch.severity,
                f"project:{event.originator_id}",
                f"project {name} {what} (by {self._who(event.actor_id)})",
                event,
                subject_name=f"project {name}",
            )

    def _login(self, conn: Connection, event: Any, position: int, user_id: str) -> None:
        ip = event.client_ip
        if not ip:
            return
        rule = self.rules.ip_change
        before = conn.execute(
            select(last_login.c.client_ip).where(last_login.c.user_id == user_id)
        ).scalar_one_or_none()
        if before is None:
            conn.execute(last_login.insert().values(user_id=user_id, client_ip=ip))
            return
        conn.execute(update(last_login).where(last_login.c.user_id == user_id).values(client_ip=ip))
        if rule.enabled and _network(before, rule.prefix) != _network(ip, rule.prefix):
            self._raise(
                "ip_change",
                position,
                "IP alert",
                rule.severity,
                user_id,
                f"{self._who(user_id)}: login from {ip}; the previous login came from {before}",
                event,
            )

    def _denial(self, conn: Connection, event: Any, position: int) -> None:
        rule = self.rules.denied_burst
        anonymous = event.actor_role in ("anonymous", SYSTEM_ROLE)
        key = f"ip:{event.client_ip}" if anonymous else event.actor_id
        since = event.timestamp - timedelta(minutes=rule.minutes)
        conn.execute(delete(recent_denials).where(recent_denials.c.at < since))
        conn.execute(
            recent_denials.insert().values(position=position, actor_key=key, at=event.timestamp)
        )
        count = conn.execute(
            select(func.count())
            .select_from(recent_denials)
            .where(recent_denials.c.actor_key == key, recent_denials.c.at >= since)
        ).scalar_one()
        if rule.enabled and count == rule.count:
            self._raise(
                "denied_burst",
                position,
                "Denied burst",
                rule.severity,
                key,
                f"{count} refused attempts by {self._who(key)} within {rule.minutes} minutes",
                event,
            )

    def _hours(self, conn: Connection, event: Any, position: int) -> None:
        rule = self.rules.outside_hours
        if not rule.enabled or event.actor_role in ("anonymous", SYSTEM_ROLE):
            return
        local: datetime = event.timestamp.astimezone(ZoneInfo(rule.timezone))
        if rule.start <= local.time() < rule.end:
            return
        seen = conn.execute(
            select(out_of_hours_days).where(
                out_of_hours_days.c.actor_id == event.actor_id,
                out_of_hours_days.c.day == local.date(),
            )
        ).first()
        if seen is not None:
            return  # once a day per person is enough to look into
        conn.execute(out_of_hours_days.insert().values(actor_id=event.actor_id, day=local.date()))
        self._raise(
            "outside_hours",
            position,
            "Outside hours",
            rule.severity,
            event.actor_id,
            f"{self._who(event.actor_id)}: activity at {local:%H:%M} {rule.timezone}, outside "
            f"{rule.start:%H:%M}-{rule.end:%H:%M}",
            event,
        )

    def _raise(
        self,
        rule: str,
        position: int,
        type: str,
        severity: str,
        subject: str | None,
        message: str,
        event: Any,
        *,
        subject_name: str | None = None,
    ) -> None:
        if self._recorded:
            return
        self._pending.append(
            dict(
                rule=rule,
                source_position=position,
                type=type,
                severity=severity,
                subject=subject,
                message=message,
                source_actor=event.actor_id,
                subject_name=subject_name or self._who(subject),
                actor_name=self._who(event.actor_id),
            )
        )

    def _who(self, ref: str | None) -> str | None:
        return who(self.app, ref)

    def after_page(self, conn: Connection, last_position: int) -> None:
        for alert in self._pending:
            # The alert's id is the idempotency key: raised once, whatever replays.
            if Alert.create_id(alert["rule"], alert["source_position"]) in self.app.repository:
                continue
            with acting_as(AuditContext.system(f"alert-rule:{alert['rule']}")):
                self.outcome(Alert(**alert))
        self._pending = []


def who(app: Any, ref: str | None) -> str | None:
    """Who an id names, as officers read it: "Name <email>", or what the id says."""
    if ref is None:
        return None
    if ref.startswith("ip:"):
        return f"anonymous from {ref[3:]}"
    try:
        user_id = UUID(ref)
    except ValueError:
        return ref  # system:<rule>, anonymous
    user = Identity(app).find(User, user_id)
    return f"{user.name} <{user.email}>" if user is not None else ref


def _find(app: Any, kind: type[Any], aggregate_id: UUID) -> Any:
    return Identity(app).find(kind, aggregate_id)


def requirement_name(app: Any, requirement_id: UUID) -> str:
    found = _find(app, Requirement, requirement_id)
    return found.name if found is not None else str(requirement_id)


def project_name(app: Any, project_id: UUID) -> str:
    found = _find(app, Project, project_id)
    return found.name if found is not None else str(project_id)


def _moment(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# -- certification expiring: raised on the event, or by the expiry process's rounds ------

EXPIRING = "Certification expiring"
EXPIRING_RULE = "certification_expiring"


def in_expiry_window(expires_at: datetime | None, at: datetime, days: int) -> bool:
    """Whether a certification expiring at `expires_at` is, at `at`, live and due
    within `days`."""
    return expires_at is not None and at < expires_at <= at + timedelta(days=days)


def expiring_message(person: str | None, requirement: str, expires_at: datetime, days: int) -> str:
    return (
        f"{person}: {requirement} certification expires {_moment(expires_at)} (within {days} days)"
    )


def raise_expiring(
    app: Any, rules: AlertRules, certifications: Iterable[dict[str, Any]], now: datetime
) -> int:
    """Raise "Certification expiring" for each live certification that entered its window
    since it began (`certifications`: rows of the compliance read model); how many.

    One certified already within the window was warned of on its event by the rules
    process; the two never overlap, so neither can record the other's alert. The
    alert's id comes from the rule and the position that began the certification's
    period: once per period, across rounds, restarts and racing processes.
    """
    rule = rules.certification_expiring
    if not rule.enabled:
        return 0
    raised = 0
    context = AuditContext.system(f"alert-rule:{EXPIRING_RULE}")
    for held in certifications:
        expires_at, begun = held["expires_at"], held["certified_at"]
        if not in_expiry_window(expires_at, now, rule.days) or in_expiry_window(
            expires_at, begun, rule.days
        ):
            continue
        position = int(held["period_position"])
        if Alert.create_id(EXPIRING_RULE, position) in app.repository:
            continue
        person = who(app, held["user_id"])
        with acting_as(context):
            alert = Alert(
                EXPIRING_RULE,
                position,
                EXPIRING,
                rule.severity,
                held["user_id"],
                expiring_message(
                    person,
                    requirement_name(app, UUID(held["requirement_id"])),
                    expires_at,
                    rule.days,
                ),
                context.actor_id,
                subject_name=person,
                actor_name=context.actor_id,
            )
            try:
                app.save(alert)
            except StoreIntegrityError:
                continue  # another expiry process raised it first
        raised += 1
    return raised


def _network(ip: str, prefix: int) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    bits = prefix if address.version == 4 else min(128, prefix * 4)
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


alerts = Table(
    "rm_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("type", String(40), nullable=False, index=True),
    Column("severity", String(10), nullable=False),
    Column("severity_rank", Integer, nullable=False, index=True),
    Column("subject", StoredText()),
    Column("subject_name", StoredText()),
    Column("message", StoredText(), nullable=False),
    Column("source_actor", String(80), nullable=False, index=True),
    Column("actor_name", StoredText()),
    Column("source_position", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)


class AlertsProjection(Projection):
    """The alert queue as officers see it: one row per alert, in log order."""

    name = "alerts"
    tables = (alerts,)
    topics = topics(Alert, "Raised", "Acknowledged", "Resolved")

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        alert_id = str(event.originator_id)
        kind = type(event).__name__
        if kind == "Raised":
            conn.execute(
                alerts.insert().values(
                    id=alert_id,
                    position=position,
                    raised_at=event.timestamp,
                    rule=event.rule,
                    type=event.type,
                    severity=event.severity,
                    severity_rank=severity_rank(event.severity),
                    subject=event.subject,
                    # Alerts raised before names were recorded carry none.
                    subject_name=getattr(event, "subject_name", None),
                    message=event.message,
                    source_actor=event.source_actor,
                    actor_name=getattr(event, "actor_name", None),
                    source_position=event.source_position,
                    status="open",
                    updated_at=event.timestamp,
                )
            )
        else:
            status = "acknowledged" if kind == "Acknowledged" else "resolved"
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(status=status, updated_at=event.timestamp)
            )


def open_by_severity(conn: Connection) -> dict[str, int]:
    """How many alerts of each severity are not yet resolved (every severity present)."""
    counts: dict[str, int] = dict(
        conn.execute(
            select(alerts.c.severity, func.count())
            .where(alerts.c.status != "resolved")
            .group_by(alerts.c.severity)
        ).all()
    )
    return {severity: int(counts.get(severity, 0)) for severity in SEVERITIES}
