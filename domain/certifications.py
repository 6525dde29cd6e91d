"""Security requirements, the security levels that contain them, and users' certifications.

A requirement ("DAC Compliance", "HIPAA training") may limit how long a
certification for it lasts (training: 365 days; citizenship: no limit). A
security level ("HIPAA") is a named container of requirements; a project has one.
A certification is one user's standing for one requirement: its id is derived
from the pair, so there is exactly one per pair and re-certifying continues its
history. Whether it counts is decided on the clock at the moment of access
(`valid_at`); the expiry process only *records* that the moment passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.errors import Conflict, InvalidInput, NotFound

# A certification can last at most this long, with or without a lifespan (100 years);
# a lifespan is bounded the same way, in days.
MAX_LIFESPAN_DAYS = 36_500


class RequirementNotFound(NotFound):
    """No security requirement with that id."""


class SecurityLevelNotFound(NotFound):
    """No security level with that id."""


class CertificationNotFound(NotFound):
    """The user was never certified for that requirement."""


class NameTaken(Conflict):
    """Another requirement, level or project already has that name."""


class NotCertified(Conflict):
    """There is no live certification to withdraw."""


class Requirement(AuditedAggregate):
    missing = RequirementNotFound

    @event("Created")
    def __init__(self, *, name: str, description: str, lifespan_days: int | None) -> None:
        self.name = name
        self.description = description
        self.lifespan_days = lifespan_days

    @event("Changed")
    def change(self, *, before: dict[str, object], after: dict[str, object]) -> None:
        self.name = str(after["name"])
        self.description = str(after["description"])
        lifespan = after["lifespan_days"]
        self.lifespan_days = None if lifespan is None else int(str(lifespan))

    def latest_expiry(self, certified_at: datetime) -> datetime | None:
        """The latest expiry a certification made at `certified_at` may have."""
        if self.lifespan_days is None:
            return None
        return certified_at + timedelta(days=self.lifespan_days)

    def facts(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "lifespan_days": self.lifespan_days,
        }


class SecurityLevel(AuditedAggregate):
    missing = SecurityLevelNotFound

    @event("Created")
    def __init__(self, *, name: str, description: str, requirement_ids: list[UUID]) -> None:
        self.name = name
        self.description = description
        self.requirement_ids: list[UUID] = list(requirement_ids)

    @event("RequirementAdded")
    def add_requirement(self, requirement_id: UUID, projects_affected: list[UUID]) -> None:
        self.requirement_ids.append(requirement_id)

    @event("RequirementRemoved")
    def remove_requirement(self, requirement_id: UUID, projects_affected: list[UUID]) -> None:
        self.requirement_ids.remove(requirement_id)


class UniqueName(AuditedAggregate):
    """Makes the names of requirements, levels and projects unique, each within its kind."""

    @staticmethod
    def create_id(kind: str, name: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"strongroom:{kind}:{name.strip().lower()}")

    @event("Claimed")
    def __init__(self, kind: str, name: str, owner_id: UUID) -> None:
        self.kind = kind
        self.name = name
        self.owner_id = owner_id


def certification_id(user_id: UUID, requirement_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"strongroom:certification:{user_id}:{requirement_id}")


@dataclass(frozen=True)
class Standing:
    """A certification as the rules see it, at one moment."""

    requirement_id: UUID
    valid: bool
    reason: str  # why it does not count ("expired 2026-11-01"), or "certified"


class Certification(AuditedAggregate):
    missing = CertificationNotFound

    @staticmethod
    def create_id(user_id: UUID, requirement_id: UUID) -> UUID:  # type: ignore[override]
        return certification_id(user_id, requirement_id)

    @event("Certified")
    def __init__(self, *, user_id: UUID, requirement_id: UUID, expires_at: datetime | None) -> None:
        self.user_id = user_id
        self.requirement_id = requirement_id
        self._begin(expires_at)

    # Every later event names the person and the requirement too, so each one read
    # alone (a SIEM, a breach-scope row) says whose certification it was.
    def recertify(self, expires_at: datetime | None) -> None:
        self._recertified(
            user_id=self.user_id, requirement_id=self.requirement_id, expires_at=expires_at
        )

    def decertify(self, reason: str, revoked_at: datetime) -> None:
        self._decertified(
            user_id=self.user_id,
            requirement_id=self.requirement_id,
            reason=reason,
            revoked_at=revoked_at,
        )

    def record_expiry(self, expired_at: datetime) -> None:
        """The moment `expires_at` passed, recorded by the expiry process (once)."""
        self._expired(
            user_id=self.user_id, requirement_id=self.requirement_id, expired_at=expired_at
        )

    @event("Recertified")
    def _recertified(
        self, user_id: UUID, requirement_id: UUID, expires_at: datetime | None
    ) -> None:
        self._begin(expires_at)

    def _begin(self, expires_at: datetime | None) -> None:
        self.expires_at = expires_at
        self.revoked_at: datetime | None = None
        self.revoked_reason: str | None = None
        self.expiry_recorded = False

    @event("Decertified")
    def _decertified(
        self, user_id: UUID, requirement_id: UUID, reason: str, revoked_at: datetime
    ) -> None:
        self.revoked_at = revoked_at
        self.revoked_reason = reason

    @event("Expired")
    def _expired(self, user_id: UUID, requirement_id: UUID, expired_at: datetime) -> None:
        self.expiry_recorded = True

    def valid_at(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def standing(self, now: datetime) -> Standing:
        if self.revoked_at is not None:
            return Standing(
                self.requirement_id, False, f"revoked {self.revoked_at.date().isoformat()}"
            )
        if self.expires_at is not None and now >= self.expires_at:
            return Standing(
                self.requirement_id, False, f"expired {self.expires_at.date().isoformat()}"
            )
        return Standing(self.requirement_id, True, "certified")

    def due_to_expire(self, now: datetime) -> bool:
        """Whether the expiry process should record that this certification expired."""
        return (
            self.revoked_at is None
            and not self.expiry_recorded
            and self.expires_at is not None
            and now >= self.expires_at
        )


def check_lifespan(value: object) -> int | None:
    """A lifespan in whole days (1 to 100 years), or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("lifespan_days", "a whole number of days, or null for no limit")
    if not 1 <= value <= MAX_LIFESPAN_DAYS:
        raise InvalidInput("lifespan_days", f"from 1 to {MAX_LIFESPAN_DAYS} days")
    return value


def check_expiry(requirement: Requirement, expires_at: datetime | None, now: datetime) -> None:
    """Refuse an expiry the requirement's lifespan does not allow, before anything is recorded."""
    latest = requirement.latest_expiry(now)
    if expires_at is None:
        if latest is not None:
            raise InvalidInput(
                "expires_at",
                f"{requirement.name} certifications last at most "
                f"{requirement.lifespan_days} days: an expiry is required",
            )
        return
    if expires_at.tzinfo is None:
        raise InvalidInput("expires_at", "a time zone is required (e.g. 2027-01-31T00:00:00Z)")
    if expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")
    if latest is not None and expires_at > latest:
        raise InvalidInput(
            "expires_at",
            f"{requirement.name} certifications last at most {requirement.lifespan_days} days: "
            f"no later than {latest.isoformat(timespec='seconds')}",
        )
    if expires_at > now + timedelta(days=MAX_LIFESPAN_DAYS):
        raise InvalidInput("expires_at", f"at most {MAX_LIFESPAN_DAYS} days ahead")
