"""The compliance read model: requirements, levels, projects and their members'
standing, certifications with their expiry, and the project tags on resources.

People's emails and names are not copied here: the listings join the users read
model when asked (`rm_users`), so a rename shows at once and no copy can drift.
A member's compliance is what the domain *recorded* (`MemberLapsed`,
`MemberRestored`); a certification's state may be read at a moment (`now`), so
one whose expiry passed reads "expired" before the expiry process records it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from domain.application import Strongroom
from domain.certifications import Certification, Requirement, SecurityLevel
from domain.clock import Clock
from domain.compliance import Compliance
from domain.envelope import AuditContext, acting_as
from domain.projects import Project, ResourceTags
from projections.alert_rules import AlertRules
from projections.alerts import raise_expiring
from projections.identity import topics, users
from projections.runner import (
    Projection,
    ProjectionRunner,
    ProjectionStalled,
    StoredText,
    UtcDateTime,
    metadata,
)

log = logging.getLogger(__name__)

COMPLIANCE = "compliance"

requirements = Table(
    "rm_requirements",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", StoredText(), nullable=False),
    Column("description", StoredText(), nullable=False),
    Column("lifespan_days", Integer),
)
levels = Table(
    "rm_security_levels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", StoredText(), nullable=False),
    Column("description", StoredText(), nullable=False),
)
level_requirements = Table(
    "rm_level_requirements",
    metadata,
    Column("level_id", String(36), primary_key=True),
    Column("requirement_id", String(36), primary_key=True),
    # The log position that added it: a level lists its requirements in the order given.
    Column("position", BigInteger, nullable=False),
)
projects = Table(
    "rm_projects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", StoredText(), nullable=False),
    Column("description", StoredText(), nullable=False),
    Column("security_level_id", String(36), nullable=False, index=True),
    Column("parent_id", String(36)),
    Column("allows_mixing", Boolean, nullable=False),
    Column("parked", Boolean, nullable=False),
    Column("parked_reason", StoredText()),
    Column("created_at", UtcDateTime(), nullable=False),
)
project_members = Table(
    "rm_project_members",
    metadata,
    Column("project_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True, index=True),
    Column("restrictions", JSON, nullable=False),
    Column("compliant", Boolean, nullable=False),
    Column("reason", StoredText()),
    # When the last lapse or restoration was recorded (None: never lapsed).
    Column("since", UtcDateTime()),
    Column("joined_at", UtcDateTime(), nullable=False),
)
certifications = Table(
    "rm_certifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("requirement_id", String(36), nullable=False),
    # "certified", "revoked" or "expired" as recorded; see `_state_at` for a moment.
    Column("state", String(10), nullable=False, index=True),
    Column("certified_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), index=True),
    Column("revoked_reason", StoredText()),
    # The log position that began the current period (certified or re-certified):
    # what names the period, e.g. in the "expiring" alert's id.
    Column("period_position", BigInteger, nullable=False),
)
# A tags aggregate's id is derived from its resource, but not reversibly: its
# Opened event says which resource it is, for the Tagged events that follow.
tagged_resources = Table(
    "rm_tagged_resources",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("resource_id", String(36), nullable=False),
)
resource_tags = Table(
    "rm_resource_tags",
    metadata,
    Column("kind", String(10), primary_key=True),
    Column("resource_id", String(36), primary_key=True),
    Column("project_id", String(36), primary_key=True, index=True),
)


class ComplianceProjection(Projection):
    name = COMPLIANCE
    tables = (
        requirements,
        levels,
        level_requirements,
        projects,
        project_members,
        certifications,
        tagged_resources,
        resource_tags,
    )
    topics = (
        topics(Requirement, "Created", "Changed")
        | topics(SecurityLevel, "Created", "RequirementAdded", "RequirementRemoved")
        | topics(Certification, "Certified", "Recertified", "Decertified", "Expired")
        | topics(
            Project,
            "Created",
            "MemberAdded",
            "MemberRemoved",
            "RestrictionsChanged",
            "Parked",
            "Unparked",
            "MemberLapsed",
            "MemberRestored",
        )
        | topics(ResourceTags, "Opened", "Tagged", "Untagged")
    )

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        aggregate, _, kind = type(event).__qualname__.partition(".")
        handler = {
            "Requirement": self._requirement,
            "SecurityLevel": self._level,
            "Certification": self._certification,
            "Project": self._project,
            "ResourceTags": self._tags,
        }[aggregate]
        handler(conn, kind, event, position)

    def _requirement(self, conn: Connection, kind: str, event: Any, position: int) -> None:
        requirement_id = str(event.originator_id)
        if kind == "Created":
            conn.execute(
                requirements.insert().values(
                    id=requirement_id,
                    name=event.name,
                    description=event.description,
                    lifespan_days=event.lifespan_days,
                )
            )
        elif kind == "Changed":
            after = event.after
            lifespan = after["lifespan_days"]
            conn.execute(
                update(requirements)
                .where(requirements.c.id == requirement_id)
                .values(
                    name=str(after["name"]),
                    description=str(after["description"]),
                    lifespan_days=None if lifespan is None else int(lifespan),
                )
            )

    def _level(self, conn: Connection, kind: str, event: Any, position: int) -> None:
        level_id = str(event.originator_id)
        if kind == "Created":
            conn.execute(
                levels.insert().values(id=level_id, name=event.name, description=event.description)
            )
            if event.requirement_ids:
                conn.execute(
                    level_requirements.insert(),
                    [
                        dict(level_id=level_id, requirement_id=str(rid), position=position)
                        for rid in event.requirement_ids
                    ],
                )
        elif kind == "RequirementAdded":
            conn.execute(
                level_requirements.insert().values(
                    level_id=level_id, requirement_id=str(event.requirement_id), position=position
                )
            )
        elif kind == "RequirementRemoved":
            conn.execute(
                delete(level_requirements).where(
                    level_requirements.c.level_id == level_id,
                    level_requirements.c.requirement_id == str(event.requirement_id),
                )
            )

    def _certification(self, conn: Connection, kind: str, event: Any, position: int) -> None:
        certification_id = str(event.originator_id)
        where = certifications.c.id == certification_id
        if kind == "Certified":
            conn.execute(
                certifications.insert().values(
                    id=certification_id,
                    user_id=str(event.user_id),
                    requirement_id=str(event.requirement_id),
                    state="certified",
                    certified_at=event.timestamp,
                    expires_at=event.expires_at,
                    revoked_reason=None,
                    period_position=position,
                )
            )
        elif kind == "Recertified":
            conn.execute(
                update(certifications)
                .where(where)
                .values(
                    state="certified",
                    certified_at=event.timestamp,
                    expires_at=event.expires_at,
                    revoked_reason=None,
                    period_position=position,
                )
            )
        elif kind == "Decertified":
            conn.execute(
                update(certifications)
                .where(where)
                .values(state="revoked", revoked_reason=event.reason)
            )
        elif kind == "Expired":
            conn.execute(update(certifications).where(where).values(state="expired"))

    def _project(self, conn: Connection, kind: str, event: Any, position: int) -> None:
        project_id = str(event.originator_id)
        if kind == "Created":
            conn.execute(
                projects.insert().values(
                    id=project_id,
                    name=event.name,
                    description=event.description,
                    security_level_id=str(event.security_level_id),
                    parent_id=None if event.parent_id is None else str(event.parent_id),
                    allows_mixing=bool(event.allows_mixing),
                    parked=False,
                    parked_reason=None,
                    created_at=event.timestamp,
                )
            )
        elif kind in ("Parked", "Unparked"):
            conn.execute(
                update(projects)
                .where(projects.c.id == project_id)
                .values(
                    parked=kind == "Parked",
                    parked_reason=event.reason if kind == "Parked" else None,
                )
            )
        else:
            self._member(conn, kind, event, project_id)

    def _member(self, conn: Connection, kind: str, event: Any, project_id: str) -> None:
        user_id = str(event.user_id)
        where = (project_members.c.project_id == project_id) & (
            project_members.c.user_id == user_id
        )
        if kind == "MemberAdded":
            conn.execute(
                project_members.insert().values(
                    project_id=project_id,
                    user_id=user_id,
                    restrictions=sorted(event.restrictions),
                    compliant=True,
                    reason=None,
                    since=None,
                    joined_at=event.timestamp,
                )
            )
        elif kind == "MemberRemoved":
            conn.execute(delete(project_members).where(where))
        elif kind == "RestrictionsChanged":
            conn.execute(
                update(project_members).where(where).values(restrictions=sorted(event.after))
            )
        elif kind == "MemberLapsed":
            conn.execute(
                update(project_members)
                .where(where)
                .values(compliant=False, reason="; ".join(event.reasons), since=event.timestamp)
            )
        elif kind == "MemberRestored":
            conn.execute(
                update(project_members)
                .where(where)
                .values(compliant=True, reason=None, since=event.timestamp)
            )

    def _tags(self, conn: Connection, kind: str, event: Any, position: int) -> None:
        tags_id = str(event.originator_id)
        if kind == "Opened":
            conn.execute(
                tagged_resources.insert().values(
                    id=tags_id, kind=str(event.kind), resource_id=str(event.resource_id)
                )
            )
            return
        resource = conn.execute(
            select(tagged_resources.c.kind, tagged_resources.c.resource_id).where(
                tagged_resources.c.id == tags_id
            )
        ).one()
        row = dict(kind=resource.kind, resource_id=resource.resource_id)
        if kind == "Tagged":
            conn.execute(resource_tags.insert().values(**row, project_id=str(event.project_id)))
        else:
            conn.execute(
                delete(resource_tags).where(
                    resource_tags.c.kind == row["kind"],
                    resource_tags.c.resource_id == row["resource_id"],
                    resource_tags.c.project_id == str(event.project_id),
                )
            )


# -- listings served from the read model ------------------------------------------------


def _people(conn: Connection, ids: set[str]) -> dict[str, tuple[str, str]]:
    """(email, name) for each of these user ids the users read model knows."""
    if not ids:
        return {}
    rows = conn.execute(
        select(users.c.id, users.c.email, users.c.name).where(users.c.id.in_(sorted(ids)))
    )
    return {row.id: (row.email, row.name) for row in rows}


def requirement_listing(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(requirements).order_by(requirements.c.name)).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "description": r.description,
            "lifespan_days": r.lifespan_days,
        }
        for r in rows
    ]


def level_listing(conn: Connection) -> list[dict[str, Any]]:
    names = dict(conn.execute(select(requirements.c.id, requirements.c.name)).all())
    held: dict[str, list[dict[str, str]]] = {}
    for level_id, requirement_id in conn.execute(
        select(level_requirements.c.level_id, level_requirements.c.requirement_id).order_by(
            level_requirements.c.position, level_requirements.c.requirement_id
        )
    ).all():
        held.setdefault(level_id, []).append(
            {"id": requirement_id, "name": names.get(requirement_id, requirement_id)}
        )
    used: dict[str, list[str]] = {}
    for project_id, level_id in conn.execute(
        select(projects.c.id, projects.c.security_level_id).order_by(projects.c.name)
    ).all():
        used.setdefault(level_id, []).append(project_id)
    return [
        {
            "id": level.id,
            "name": level.name,
            "description": level.description,
            "requirements": held.get(level.id, []),
            "projects": used.get(level.id, []),
        }
        for level in conn.execute(select(levels).order_by(levels.c.name)).all()
    ]


def project_listing(conn: Connection) -> list[dict[str, Any]]:
    level_names = dict(conn.execute(select(levels.c.id, levels.c.name)).all())
    member_rows = conn.execute(
        select(project_members).order_by(project_members.c.joined_at, project_members.c.user_id)
    ).all()
    people = _people(conn, {m.user_id for m in member_rows})
    members: dict[str, list[dict[str, Any]]] = {}
    for m in member_rows:
        email, name = people.get(m.user_id, (None, None))
        members.setdefault(m.project_id, []).append(
            {
                "user_id": m.user_id,
                "email": email,
                "name": name,
                "restrictions": list(m.restrictions),
                "compliant": m.compliant,
                "reason": m.reason,
                "since": m.since,
            }
        )
    return [
        {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "security_level_id": p.security_level_id,
            "security_level": level_names.get(p.security_level_id),
            "parent_id": p.parent_id,
            "parked": p.parked,
            "allows_mixing": p.allows_mixing,
            "members": members.get(p.id, []),
        }
        for p in conn.execute(select(projects).order_by(projects.c.name)).all()
    ]


def _state_at(state: str, expires_at: datetime | None, now: datetime | None) -> str:
    if state == "certified" and now is not None and expires_at is not None and expires_at <= now:
        return "expired"
    return state


def certification_listing(
    conn: Connection,
    *,
    user_id: UUID | None = None,
    expiring_before: datetime | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Certifications, soonest expiry first; `expiring_before` keeps the live ones that
    expire before that moment ("expiring within N days"), `now` reads each at a moment."""
    query = select(certifications)
    if user_id is not None:
        query = query.where(certifications.c.user_id == str(user_id))
    if expiring_before is not None:
        query = query.where(
            certifications.c.state == "certified",
            certifications.c.expires_at.is_not(None),
            certifications.c.expires_at < expiring_before,
        )
        if now is not None:
            query = query.where(certifications.c.expires_at > now)
    rows = conn.execute(query).all()
    names = dict(conn.execute(select(requirements.c.id, requirements.c.name)).all())
    people = _people(conn, {r.user_id for r in rows})
    listed = []
    for r in rows:
        email, name = people.get(r.user_id, (None, None))
        listed.append(
            {
                "user_id": r.user_id,
                "email": email,
                "name": name,
                "requirement_id": r.requirement_id,
                "requirement": names.get(r.requirement_id, r.requirement_id),
                "state": _state_at(r.state, r.expires_at, now),
                "certified_at": r.certified_at,
                "expires_at": r.expires_at,
                "revoked_reason": r.revoked_reason,
            }
        )
    far = datetime.max.replace(tzinfo=None)
    listed.sort(
        key=lambda c: (
            c["expires_at"].replace(tzinfo=None) if c["expires_at"] else far,
            c["email"] or "",
            c["requirement"],
        )
    )
    return listed


def non_compliant_members(conn: Connection) -> list[dict[str, Any]]:
    """Members whose lapse is recorded, with the reason: longest-standing first."""
    rows = conn.execute(
        select(
            project_members.c.project_id,
            projects.c.name.label("project"),
            project_members.c.user_id,
            project_members.c.reason,
            project_members.c.since,
        )
        .join(projects, projects.c.id == project_members.c.project_id)
        .where(project_members.c.compliant.is_(False))
        .order_by(project_members.c.since, projects.c.name, project_members.c.user_id)
    ).all()
    people = _people(conn, {r.user_id for r in rows})
    return [
        {
            "project_id": r.project_id,
            "project": r.project,
            "user_id": r.user_id,
            "email": people.get(r.user_id, (None, None))[0],
            "name": people.get(r.user_id, (None, None))[1],
            "reason": r.reason,
            "since": r.since,
        }
        for r in rows
    ]


def tag_listing(
    conn: Connection,
    *,
    kind: str | None = None,
    resource_id: UUID | None = None,
    project_id: UUID | None = None,
) -> list[dict[str, Any]]:
    query = select(
        resource_tags.c.kind,
        resource_tags.c.resource_id,
        resource_tags.c.project_id,
        projects.c.name.label("project"),
    ).join(projects, projects.c.id == resource_tags.c.project_id)
    if kind is not None:
        query = query.where(resource_tags.c.kind == kind)
    if resource_id is not None:
        query = query.where(resource_tags.c.resource_id == str(resource_id))
    if project_id is not None:
        query = query.where(resource_tags.c.project_id == str(project_id))
    query = query.order_by(resource_tags.c.kind, resource_tags.c.resource_id, projects.c.name)
    return [dict(r._mapping) for r in conn.execute(query).all()]


def due_certifications(conn: Connection, now: datetime) -> list[UUID]:
    """Live certifications whose expiry has passed and is not yet recorded."""
    rows = conn.execute(
        select(certifications.c.id)
        .where(
            certifications.c.state == "certified",
            certifications.c.expires_at.is_not(None),
            certifications.c.expires_at <= now,
        )
        .order_by(certifications.c.expires_at, certifications.c.id)
    ).all()
    return [UUID(r.id) for r in rows]


def certifications_expiring(conn: Connection, now: datetime, days: int) -> list[dict[str, Any]]:
    """Live certifications expiring after `now` and within `days` of it, with the moment
    and log position their period began."""
    rows = conn.execute(
        select(
            certifications.c.user_id,
            certifications.c.requirement_id,
            certifications.c.certified_at,
            certifications.c.expires_at,
            certifications.c.period_position,
        ).where(
            certifications.c.state == "certified",
            certifications.c.expires_at > now,
            certifications.c.expires_at <= now + timedelta(days=days),
        )
    ).all()
    return [dict(r._mapping) for r in rows]


# -- the expiry process ---------------------------------------------------------------

EXPIRY_RULE = "certification-expiry"


class CertificationExpiry:
    """Records each certification's expiry once, on the injected clock.

    Access never waits for this: the domain decides on the clock at the moment
    of access. This process only *records* that the moment passed
    (`Certification.Expired`, with the `MemberLapsed` it causes) as
    `system:certification-expiry`, so the history says when a member stopped
    being compliant. Every `every_seconds` it takes the certifications the read
    model has as due and asks the domain to expire each: `expire` decides on the
    aggregate (re-certified, revoked or recorded already means nothing to do),
    and two processes racing conflict on the aggregate's version, so the loser
    decides again and finds it recorded. Each round also warns of certifications
    that have just come within the "expiring" alert's window (`raise_expiring`).
    """

    def __init__(
        self,
        app: Strongroom,
        runner: ProjectionRunner,
        clock: Clock,
        rules: AlertRules,
        every_seconds: float = 1.0,
    ) -> None:
        self.app = app
        self.runner = runner
        self.clock = clock
        self.rules = rules
        self.every_seconds = every_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        # Rounds the background thread finished, failed or not: how long it has run.
        self.rounds = 0

    def run_once(self) -> int:
        """One round: record the expiries that are due; how many this round recorded.

        A read model lagging behind the log only delays a recording by a round (the
        aggregate decides), so the round goes on after a short wait; a stalled one
        raises `ProjectionStalled` (its stall is alerted already).
        """
        self.runner.wait_until_current([COMPLIANCE], timeout=min(self.every_seconds, 2.0))
        now = self.clock.now()
        days = self.rules.certification_expiring.days
        with self.runner.engine.connect() as conn:
            due = due_certifications(conn, now)
            expiring = certifications_expiring(conn, now, days)
        recorded = sum(self._expire(certification) for certification in due)
        raise_expiring(self.app, self.rules, expiring, now)
        return recorded

    def _expire(self, certification: UUID) -> bool:
        compliance = Compliance(self.app)
        with acting_as(AuditContext.system(EXPIRY_RULE)):
            for _ in range(3):
                try:
                    return compliance.expire(certification)
                except StoreIntegrityError:
                    # Another process recorded this expiry, or a command changed the
                    # certification or one of its holder's projects: decide again.
                    continue
        log.warning("certification %s: could not record its expiry this round", certification)
        return False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=EXPIRY_RULE, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        # A round at once: after a restart, what fell due meanwhile is recorded now.
        while not self._stopped.is_set():
            try:
                self.run_once()
            except ProjectionStalled:
                pass  # alerted when it stalled; the round after its recovery catches up
            except Exception:  # the store failed; the next round tries again
                log.exception("the certification expiry round failed")
            self.rounds += 1
            self._stopped.wait(self.every_seconds)
