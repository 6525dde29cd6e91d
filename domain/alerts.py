"""Alerts: raised by the system's rules, acknowledged and resolved by compliance officers.

An alert's id comes from its rule and the log position of what triggered it, so
a rule that sees the same event twice can never raise it twice.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain import text
from domain.aggregate import AuditedAggregate
from domain.audit_access import AlertCase, AuditAction, AuditTrail
from domain.capability import Capability
from domain.envelope import AuditContext, acting_as
from domain.errors import Conflict, InvalidInput, NotFound
from domain.users import User

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise InvalidInput("severity", f"one of {', '.join(SEVERITIES)}") from None


class AlertNotFound(NotFound):
    """No alert with that id."""


class AlertStateConflict(Conflict):
    """The alert is not in a state that allows this (e.g. resolving it twice)."""


class Alert(AuditedAggregate):
    missing = AlertNotFound

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
        subject_name: str | None = None,
        actor_name: str | None = None,
    ) -> None:
        """`subject` and `source_actor` are ids; the names say who they are, for officers."""
        self.rule = rule
        self.type = type
        self.severity = severity
        self.subject = subject
        self.message = message
        self.source_position = source_position
        self.source_actor = source_actor
        self.subject_name = subject_name
        self.actor_name = actor_name
        self.status = "open"

    @event("Acknowledged")
    def acknowledge(self, note: str) -> None:
        self.status = "acknowledged"

    @event("Resolved")
    def resolve(self, note: str) -> None:
        self.status = "resolved"

    def case(self) -> AlertCase:
        return AlertCase(self.id, self.subject, self.source_actor)


class Alerts(Capability):
    """Officers work the alert queue; the system raises alerts outside the rules process."""

    def officer(self, action: AuditAction) -> User:
        """The acting user, if it holds the audit capability; a refusal is recorded."""
        actor = self.acting_user()
        self.authorise(actor, action, AuditTrail())
        return actor

    def alert(self, alert_id: UUID) -> Alert:
        return self.load(Alert, alert_id)

    def acknowledge(self, alert_id: UUID, note: str = "") -> None:
        """open → acknowledged; by an officer who is neither its subject nor its actor."""
        note = text.checked(
            "note", note, max_length=text.NOTE_LENGTH, required=False, multiline=True
        )
        actor, alert = self.acting_user(), self.alert(alert_id)
        self.authorise(actor, AuditAction.ACKNOWLEDGE_ALERT, alert.case())
        if alert.status != "open":
            raise AlertStateConflict(
                f"the alert is {alert.status}: only an open one is acknowledged"
            )
        alert.acknowledge(note=note)
        self.save(alert)

    def resolve(self, alert_id: UUID, note: str = "") -> None:
        """open or acknowledged → resolved, under the same separation of duties."""
        note = text.checked(
            "note", note, max_length=text.NOTE_LENGTH, required=False, multiline=True
        )
        actor, alert = self.acting_user(), self.alert(alert_id)
        self.authorise(actor, AuditAction.RESOLVE_ALERT, alert.case())
        if alert.status == "resolved":
            raise AlertStateConflict("the alert is resolved already")
        alert.resolve(note=note)
        self.save(alert)

    def raise_system_alert(
        self,
        rule: str,
        position: int,
        *,
        type: str,
        severity: str,
        subject: str | None,
        message: str,
        on_behalf_of: str | None = None,
    ) -> UUID:
        """An alert the system raises itself, once per rule and position.

        The alert is recorded as `system:<on_behalf_of or rule>`: the rule that fired.
        """
        alert_id = Alert.create_id(rule, position)
        if self.find(Alert, alert_id) is None:
            context = AuditContext.system(on_behalf_of or rule)
            with acting_as(context):
                alert = Alert(
                    rule,
                    position,
                    type,
                    severity,
                    subject,
                    message,
                    context.actor_id,
                    subject_name=subject,
                    actor_name=context.actor_id,
                )
                self.save(alert)
        return alert_id

    def raise_integrity_alert(self, position: int, kind: str, detail: str) -> UUID:
        """Verification found the audit log altered: a critical "Hash alert", once per position."""
        return self.raise_system_alert(
            "hash",
            position,
            type="Hash alert",
            severity="critical",
            subject=None,
            message=f"position {position}: {kind}: {detail}",
            on_behalf_of="audit-verify",
        )
