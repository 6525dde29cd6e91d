"""Alerts: raised by the system's rules, acknowledged and resolved by compliance officers.

An alert's id comes from its rule and the log position of what triggered it, so
the rules process can replay a page after a crash without raising anything twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from domain.access import Permission, permitted
from domain.aggregate import AuditedAggregate, load
from domain.denials import DeniedAttempt, Forbidden
from domain.envelope import AuditContext, acting_as
from domain.errors import InvalidInput

if TYPE_CHECKING:
    from domain.users import User

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise InvalidInput("severity", f"one of {', '.join(SEVERITIES)}") from None


class AlertNotFound(Exception):
    """No alert with that id."""


class Alert(AuditedAggregate):
    @staticmethod
    def create_id(rule: str, source_position: int) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:alert:{rule}:{source_position}")

    @event("Raised")
    def __init__(
        self,
        rule: str,
        source_position: int,
        type: str,
        severity: str,
        subject: str | None,
        message: str,
        source_actor: str,
    ) -> None:
        self.rule = rule
        self.type = type
        self.severity = severity
        self.subject = subject
        self.message = message
        self.source_position = source_position
        self.source_actor = source_actor
        self.status = "open"

    @event("Acknowledged")
    def acknowledge(self, note: str) -> None:
        self.status = "acknowledged"

    @event("Resolved")
    def resolve(self, note: str) -> None:
        self.status = "resolved"


class AlertCommands:
    """Mixed into the Strongroom application: officers work the alert queue."""

    if TYPE_CHECKING:
        repository: Any

        def save(self, *objs: Any, **kwargs: Any) -> Any: ...
        def acting_user(self) -> User: ...

    def require_audit(self, action: str) -> User:
        """The acting user, if it holds the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        if not permitted(actor.subject(), Permission.AUDIT):
            reason = "only compliance officers (the audit capability) may do this"
            self.save(DeniedAttempt(action=action, target=None, reason=reason))
            raise Forbidden(action, reason)
        return actor

    def alert(self, alert_id: UUID) -> Alert:
        return load(self.repository, alert_id, Alert, AlertNotFound)

    def raise_integrity_alert(self, position: int, kind: str, detail: str) -> UUID:
        """Verification found the audit log altered: a critical "Hash alert", once per position."""
        alert_id = Alert.create_id("hash", position)
        try:
            self.repository.get(alert_id)
        except AggregateNotFoundError:
            with acting_as(AuditContext.system("audit-verify")):
                self.save(
                    Alert(
                        "hash",
                        position,
                        "Hash alert",
                        "critical",
                        None,
                        f"position {position}: {kind}: {detail}",
                        "system:audit-verify",
                    )
                )
        return alert_id

    def acknowledge_alert(self, alert_id: UUID, note: str = "") -> None:
        self.require_audit("acknowledge-alert")
        alert = self.alert(alert_id)
        if alert.status == "open":
            alert.acknowledge(note=note)
            self.save(alert)

    def resolve_alert(self, alert_id: UUID, note: str = "") -> None:
        self.require_audit("resolve-alert")
        alert = self.alert(alert_id)
        if alert.status != "resolved":
            alert.resolve(note=note)
            self.save(alert)
