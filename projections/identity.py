"""Read models of people: users, teams, sessions, and the denied attempts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from domain.access import Role, Subject
from domain.denials import DeniedAttempt
from domain.profiles import Profile
from domain.sessions import Session
from domain.teams import Team
from domain.throttling import ThrottledRequests, describe
from domain.users import User
from projections.runner import Projection, StoredText, UtcDateTime, metadata


def topics(aggregate: type, *events: str) -> frozenset[str]:
    """The stored topics of `aggregate`'s events with these names."""
    return frozenset(f"{get_topic(aggregate)}.{name}" for name in events)


users = Table(
    "rm_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", StoredText(), nullable=False, index=True),
    Column("name", StoredText(), nullable=False),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("teams", JSON, nullable=False),
    Column("sub_admin_of", JSON, nullable=False),
    Column("profile", StoredText()),
    Column("permissions", JSON, nullable=False),
    Column("granted", JSON, nullable=False),
    Column("restricted", JSON, nullable=False),
    Column("signing_public_key", String(64), nullable=False),
    Column("encryption_public_key", String(64), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime()),
    Column("last_login_ip", String(64)),
    Column("events", Integer, nullable=False),  # applied events: exactly-once is checkable
)


class UsersProjection(Projection):
    """Changes are gathered per page in memory and each touched row is written once,
    so a rebuild costs a few statements per page rather than one per event."""

    name = "users"
    tables = (users,)
    topics = topics(
        User,
        "Registered",
        "Activated",
        "Deactivated",
        "RoleChanged",
        "PermissionsChanged",
        "JoinedTeam",
        "LeftTeam",
        "ReleasedFromLastTeam",
        "AssignedAsSubAdmin",
        "Locked",
        "Unlocked",
        "SessionStarted",
    )

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._new: set[str] = set()

    def before_page(self, conn: Connection) -> None:
        self._rows, self._new = {}, set()

    def _row(self, conn: Connection, user_id: str) -> dict[str, Any]:
        row = self._rows.get(user_id)
        if row is None:
            found = conn.execute(select(users).where(users.c.id == user_id)).one()
            row = self._rows[user_id] = dict(found._mapping)
        return row

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        user_id = str(event.originator_id)
        kind = type(event).__name__
        if kind == "Registered":
            self._rows[user_id] = dict(
                id=user_id,
                email=event.email,
                name=event.name,
                role="user",
                active=False,
                locked=False,
                teams=[],
                sub_admin_of=[],
                profile=None,
                permissions=["download", "view"],
                granted=[],
                restricted=[],
                signing_public_key=event.signing_public_key,
                encryption_public_key=event.encryption_public_key,
                registered_at=event.timestamp,
                last_login_at=None,
                last_login_ip=None,
                events=1,
            )
            self._new.add(user_id)
            return
        row = self._row(conn, user_id)
        row["events"] += 1
        if kind in ("Activated", "Deactivated"):
            row["active"] = kind == "Activated"
        elif kind == "RoleChanged":
            row["role"] = event.after
        elif kind == "PermissionsChanged":
            row.update(
                profile=event.profile,
                permissions=list(event.after),
                granted=list(event.granted),
                restricted=list(event.restricted),
            )
        elif kind == "JoinedTeam":
            row["teams"] = sorted({*row["teams"], str(event.team_id)})
        elif kind in ("LeftTeam", "ReleasedFromLastTeam"):
            row["teams"] = sorted(set(row["teams"]) - {str(event.team_id)})
            if kind == "ReleasedFromLastTeam":
                row.update(
                    active=False,
                    profile=None,
                    permissions=["download", "view"],
                    granted=[],
                    restricted=[],
                )
        elif kind == "AssignedAsSubAdmin":
            row["sub_admin_of"] = sorted({*row["sub_admin_of"], str(event.team_id)})
        elif kind in ("Locked", "Unlocked"):
            row["locked"] = kind == "Locked"
        elif kind == "SessionStarted":
            row.update(last_login_at=event.at, last_login_ip=event.client_ip)

    def after_page(self, conn: Connection, last_position: int) -> None:
        fresh = [row for key, row in self._rows.items() if key in self._new]
        changed = [
            {**{f"new_{k}": v for k, v in row.items()}, "key": key}
            for key, row in self._rows.items()
            if key not in self._new
        ]
        if fresh:
            conn.execute(users.insert(), fresh)
        if changed:
            columns = [c.name for c in users.columns if c.name != "id"]
            conn.execute(
                update(users)
                .where(users.c.id == bindparam("key"))
                .values({c: bindparam(f"new_{c}") for c in columns}),
                changed,
            )
        self._rows, self._new = {}, set()


teams = Table(
    "rm_teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", StoredText(), nullable=False),
    Column("storage_bytes", BigInteger, nullable=False),
    Column("vm_count", Integer, nullable=False),
    Column("cpu_cores", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
team_members = Table(
    "rm_team_members",
    metadata,
    Column("team_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
)
team_sub_admins = Table(
    "rm_team_sub_admins",
    metadata,
    Column("team_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
)


class TeamsProjection(Projection):
    name = "teams"
    tables = (teams, team_members, team_sub_admins)
    topics = topics(
        Team, "Created", "MemberAdded", "MemberRemoved", "SubAdminAssigned", "QuotaChanged"
    )

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        team_id = str(event.originator_id)
        kind = type(event).__name__
        if kind == "Created":
            conn.execute(
                teams.insert().values(
                    id=team_id, name=event.name, created_at=event.timestamp, **event.quota
                )
            )
        elif kind == "MemberAdded":
            conn.execute(team_members.insert().values(team_id=team_id, user_id=str(event.user_id)))
        elif kind == "MemberRemoved":
            conn.execute(
                delete(team_members).where(
                    team_members.c.team_id == team_id, team_members.c.user_id == str(event.user_id)
                )
            )
        elif kind == "SubAdminAssigned":
            conn.execute(
                team_sub_admins.insert().values(team_id=team_id, user_id=str(event.user_id))
            )
        elif kind == "QuotaChanged":
            conn.execute(update(teams).where(teams.c.id == team_id).values(**event.after))


sessions = Table(
    "rm_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("client_ip", String(64)),
    Column("ended", Boolean, nullable=False),
    Column("ended_reason", Text),
)


class SessionsProjection(Projection):
    name = "sessions"
    tables = (sessions,)
    topics = topics(Session, "Started", "Touched", "Ended")

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        session_id = str(event.originator_id)
        kind = type(event).__name__
        if kind == "Started":
            conn.execute(
                sessions.insert().values(
                    id=session_id,
                    user_id=str(event.user_id),
                    started_at=event.started_at,
                    expires_at=event.expires_at,
                    last_seen=event.started_at,
                    client_ip=event.client_ip,
                    ended=False,
                )
            )
        elif kind == "Touched":
            conn.execute(
                update(sessions).where(sessions.c.id == session_id).values(last_seen=event.at)
            )
        elif kind == "Ended":
            conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id)
                .values(ended=True, ended_reason=event.reason)
            )


denied = Table(
    "rm_denied_attempts",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("at", UtcDateTime(), nullable=False, index=True),
    Column("actor_id", String(80), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", StoredText()),
    Column("reason", StoredText(), nullable=False),
    Column("client_ip", String(64)),
    # How many refusals the row stands for: 1, or a rate limit's folded count.
    Column("count", Integer, nullable=False),
)


class DeniedProjection(Projection):
    """Every refusal, every failed login, and the rate limit's folded counts, in log order."""

    name = "denied"
    tables = (denied,)
    topics = (
        topics(DeniedAttempt, "Recorded")
        | topics(User, "LoginFailed")
        | topics(ThrottledRequests, "Counted")
    )

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        count = 1
        kind = type(event).__name__
        if kind == "LoginFailed":
            action, target, reason = "login", str(event.originator_id), event.reason
        elif kind == "Counted":
            action, target = "rate-limited", f"ip:{event.source}"
            reason, count = describe(event), event.refused
        else:
            action, target, reason = event.action, event.target, event.reason
        conn.execute(
            denied.insert().values(
                position=position,
                at=event.timestamp,
                actor_id=event.actor_id,
                actor_role=event.actor_role,
                action=action,
                target=target,
                reason=reason,
                client_ip=event.client_ip,
                count=count,
            )
        )


profiles = Table(
    "rm_profiles",
    metadata,
    Column("name", StoredText(), primary_key=True),
    Column("permissions", JSON, nullable=False),
)


class ProfilesProjection(Projection):
    name = "profiles"
    tables = (profiles,)
    topics = topics(Profile, "Created")

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        conn.execute(
            profiles.insert().values(name=event.name, permissions=sorted(event.permissions))
        )


# -- listings served from the read models ---------------------------------------------


def subject_of(row: Any) -> Subject:
    """What the visibility rules need to know of a listed user."""
    return Subject(
        id=UUID(row.id),
        role=Role(row.role),
        active=row.active and not row.locked,
        teams=frozenset(UUID(t) for t in row.teams),
    )


def user_listing(conn: Connection) -> list[Any]:
    return list(conn.execute(select(users).order_by(users.c.registered_at, users.c.email)).all())


def people_labels(conn: Connection, refs: set[str]) -> dict[str, str]:
    """ "Name <email>" for each user id among `refs` (other refs are left out)."""
    ids = [r for r in refs if r and len(r) == 36]
    if not ids:
        return {}
    rows = conn.execute(select(users.c.id, users.c.name, users.c.email).where(users.c.id.in_(ids)))
    return {row.id: f"{row.name} <{row.email}>" for row in rows}


def team_listing(conn: Connection) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = {}
    for team_id, user_id in conn.execute(select(team_members)).all():
        members.setdefault(team_id, []).append(user_id)
    sub_admins: dict[str, list[str]] = {}
    for team_id, user_id in conn.execute(select(team_sub_admins)).all():
        sub_admins.setdefault(team_id, []).append(user_id)
    return [
        {
            "id": t.id,
            "name": t.name,
            "quota": {
                "storage_bytes": t.storage_bytes,
                "vm_count": t.vm_count,
                "cpu_cores": t.cpu_cores,
            },
            "members": sorted(members.get(t.id, [])),
            "sub_admins": sorted(sub_admins.get(t.id, [])),
        }
        for t in conn.execute(select(teams).order_by(teams.c.name)).all()
    ]


def profile_listing(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(profiles).order_by(profiles.c.name)).all()
    return [{"name": r.name, "permissions": list(r.permissions)} for r in rows]
