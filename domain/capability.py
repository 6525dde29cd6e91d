"""What every capability's use cases share: who is acting, may they, load, save.

A capability (identity, logins, alerts; projects, the vault, VMs, escrow and
backups as they land) is a class of use cases over the one `Strongroom`
application, so every aggregate still records into one notification log. It is
constructed over the application (`Identity(app).create_team(...)`): there is no
central class to extend and no list to edit. The preamble lives here, once:

- `acting_user()`: the user named by the audit context (anything else is refused);
- `authorise(actor, action, resource)`: `access.decide`, and a refusal is
  recorded as a `DeniedAttempt` before `Forbidden` is raised;
- `load(Kind, id)`: the aggregate if it is a `Kind`, else `Kind.missing` (a NotFound);
- `save(...)`: everything that changes together, in one transaction.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain import envelope
from domain.access import Resource, decide
from domain.aggregate import AuditedAggregate
from domain.denials import DeniedAttempt
from domain.errors import Forbidden
from domain.users import User

if TYPE_CHECKING:
    from domain.application import Strongroom

T = TypeVar("T", bound=AuditedAggregate)


class Capability:
    def __init__(self, app: Strongroom) -> None:
        self.app = app
        self.repository = app.repository

    def save(self, *objs: Any) -> None:
        self.app.save(*objs)

    def find(self, kind: type[T], aggregate_id: UUID) -> T | None:
        """The aggregate with this id if there is one and it is a `kind`."""
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def load(self, kind: type[T], aggregate_id: UUID) -> T:
        """The aggregate with this id if it is a `kind`; otherwise `kind.missing`."""
        found = self.find(kind, aggregate_id)
        if found is None:
            raise kind.missing(f"no {kind.__name__.lower()} {aggregate_id}")
        return found

    def acting_user(self) -> User:
        """The user named by the current audit context; anyone else is refused."""
        actor = envelope.current().actor_id
        try:
            user_id = UUID(actor)
        except ValueError:
            self.refuse("act", None, f"{actor} is not a user")
        return self.load(User, user_id)

    def authorise(self, actor: User, action: StrEnum, resource: Resource) -> None:
        """Go on if `actor` may do `action` to `resource`; otherwise record why, and refuse."""
        decision = decide(actor.subject(), action, resource)
        if not decision:
            self.refuse(str(action), resource.describe(), decision.reason)

    def record_refusal(self, action: str, target: str | None, reason: str, *also: Any) -> None:
        """Record a refused attempt, with whatever else changed with it (a used challenge)."""
        self.save(*also, DeniedAttempt(action=action, target=target, reason=reason))

    def refuse(self, action: str, target: str | None, reason: str, *also: Any) -> NoReturn:
        self.record_refusal(action, target, reason, *also)
        raise Forbidden(action, reason)
