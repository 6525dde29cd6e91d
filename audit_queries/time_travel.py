"""Time travel: any aggregate, or the organisation, as of a position in the log or a time.

Everything is answered as of a *prefix of the log*: "as of position P" is every
event at positions up to P; "as of time T" is the prefix up to the last event
recorded at or before T (so one answer never mixes two cuts of the history).

How an aggregate is rebuilt as of a point, exactly:

1. its version then comes from the export (always brought up to date first,
   `audit_queries.fresh`): the highest `version` among its rows at positions up
   to P — one scan of a few columns in DuckDB;
2. that version is loaded through the application, `repository.get(id,
   version=v)`: the library starts from the newest *signed* snapshot at or
   below v (never a later one: it asks the snapshot store for `lte=v`), and
   replays only the events after it up to v. An unsigned or altered snapshot
   is refused and the aggregate replayed from its events (adapters/ledger/
   snapshots.py). So this is the same code path as every command's load, and
   its cost is bounded by the snapshot interval, not the aggregate's age.

The organisation as of a point loads every User, Team and Profile the same way
(their versions in one query), rather than replaying every event of those kinds
from the export: both are exact, but replay costs more as the whole history grows
(every login is a User event), while loading from snapshots costs one snapshot
and at most an interval of events per aggregate. Projects and certifications
join through `organisation_part` (below) when those capabilities land.

State is rendered as JSON by one generic, conservative serialiser: what cannot
be shown safely (secrets and what stands for them, bytes, types it does not
know) is withheld and listed as withheld, never guessed at. What an officer may
see of each aggregate type is explicit in `DISCLOSURES`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from audit_queries.fresh import fresh_connection
from audit_queries.views import BASE
from domain.aggregate import AuditedAggregate
from domain.errors import InvalidInput, NotFound
from domain.history_reads import AS_OF_LENGTH
from domain.profiles import Profile
from domain.teams import Team
from domain.users import User

if TYPE_CHECKING:
    import duckdb

    from adapters.bootstrap import System
    from domain.application import Strongroom

MAX_POSITION = 2**63 - 1  # positions are 64-bit signed in both stores
FIELD = "as_of"
EXAMPLE = "a log position such as 1042, or a time such as 2026-11-27T09:00:00Z"


# -- what was asked -----------------------------------------------------------------------


@dataclass(frozen=True)
class AsOf:
    """A point in the history as asked: a log position, or a moment with its UTC offset."""

    position: int | None = None
    moment: datetime | None = None

    def __post_init__(self) -> None:
        if (self.position is None) == (self.moment is None):
            raise ValueError("as of a position or a moment, exactly one")

    def __str__(self) -> str:
        """As recorded: the position in digits, or the moment in ISO 8601 (UTC)."""
        if self.position is not None:
            return str(self.position)
        assert self.moment is not None
        return self.moment.astimezone(UTC).isoformat()


def parse_as_of(text: str) -> AsOf:
    """`as_of` as given to the API or the CLI; `InvalidInput("as_of", why)` when unusable."""
    if not 0 < len(text) <= AS_OF_LENGTH:
        raise InvalidInput(FIELD, f"1 to {AS_OF_LENGTH} characters: {EXAMPLE}")
    if text.isascii() and text.isdigit():
        position = int(text)
        if position > MAX_POSITION:
            raise InvalidInput(FIELD, f"a position is at most {MAX_POSITION}")
        return AsOf(position=position)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = ""
        if " " in text.strip():
            hint = " (in a URL, write the + of an offset as %2B, or use Z)"
        raise InvalidInput(
            FIELD, f"neither a position (a whole number, 0 or more) nor an ISO 8601 time{hint}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(FIELD, "a time needs its UTC offset, e.g. 2026-11-27T09:00:00Z")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidInput(FIELD, "a time from year 1 to 9999 in UTC") from None
    return AsOf(moment=moment)


@dataclass(frozen=True)
class Point:
    """Where `as_of` falls in the log: every event at positions up to `position`."""

    as_of: AsOf
    position: int
    at: datetime | None  # when the last event up to `position` was recorded (None: none)


# -- an aggregate as of a point -----------------------------------------------------------


class NeverRecorded(NotFound):
    """No aggregate with that id is in the history at all."""


class NotYetRecorded(NotFound):
    """The aggregate exists, but was first recorded after the point asked about."""


@dataclass(frozen=True)
class AggregateAsOf:
    aggregate_id: UUID
    type: str
    version: int
    point: Point
    recorded_at: datetime  # when this version was recorded
    created_at: datetime
    state: dict[str, Any]
    withheld: list[str]  # attributes not shown (secrets, bytes, unknown kinds), dotted
    aggregate: AuditedAggregate = field(repr=False, compare=False)


# -- the organisation as of a point -------------------------------------------------------


@dataclass(frozen=True)
class PersonRef:
    user_id: UUID
    email: str | None


@dataclass(frozen=True)
class TeamRef:
    team_id: UUID
    name: str | None


@dataclass(frozen=True)
class PersonAsOf:
    user_id: UUID
    email: str
    name: str
    role: str
    active: bool
    locked: bool
    profile: str | None
    permissions: list[str]  # what the person could use: (profile | granted) - restricted
    granted: list[str]
    restricted: list[str]
    teams: list[TeamRef]
    sub_admin_of: list[TeamRef]
    registered_at: datetime


@dataclass(frozen=True)
class TeamAsOf:
    team_id: UUID
    name: str
    quota: dict[str, int]
    members: list[PersonRef]
    sub_admins: list[PersonRef]
    created_at: datetime


@dataclass(frozen=True)
class ProfileAsOf:
    name: str
    permissions: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Organisation:
    point: Point
    people: list[PersonAsOf]
    teams: list[TeamAsOf]
    profiles: list[ProfileAsOf]
    # What later capabilities add (projects, certifications), by part name.
    more: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Directory:
    """The organisation's aggregates as of one point, for the parts to read."""

    users: dict[UUID, User]
    teams: dict[UUID, Team]
    by_type: dict[str, list[AuditedAggregate]]

    def of_type(self, aggregate_type: str) -> list[AuditedAggregate]:
        return list(self.by_type.get(aggregate_type, ()))

    def person(self, user_id: UUID) -> PersonRef:
        user = self.users.get(user_id)
        return PersonRef(user_id, user.email if user is not None else None)

    def team(self, team_id: UUID) -> TeamRef:
        team = self.teams.get(team_id)
        return TeamRef(team_id, team.name if team is not None else None)


OrganisationPart = Callable[[Directory], list[dict[str, Any]]]
# name -> (the aggregate types it reads, how it renders them)
_PARTS: dict[str, tuple[frozenset[str], OrganisationPart]] = {}
_CORE = {"User": User, "Team": Team, "Profile": Profile}


def organisation_part(
    name: str, *aggregate_types: str
) -> Callable[[OrganisationPart], OrganisationPart]:
    """Register what a capability adds to the organisation as of a point.

    The extension point for projects and certifications: e.g. in
    `audit_queries/time_travel_projects.py`, imported by the route module,

        @organisation_part("projects", "Project")
        def _projects(directory: Directory) -> list[dict[str, Any]]:
            return [{"name": p.name, "members": [directory.person(u).email ...]} ...]

    Each aggregate of `aggregate_types` is loaded as of the point (as Users
    and Teams are), and the part's rows appear under `more[name]`.
    """

    def register(part: OrganisationPart) -> OrganisationPart:
        if name in _PARTS or name in ("people", "teams", "profiles"):
            raise RuntimeError(f"an organisation part named {name!r} exists")
        _PARTS[name] = (frozenset(aggregate_types), part)
        return part

    return register


# -- looking back -------------------------------------------------------------------------


class TimeTravel:
    """Looks at the past over one DuckDB connection to an up-to-date export."""

    def __init__(self, app: Strongroom, connection: duckdb.DuckDBPyConnection) -> None:
        self.app = app
        self.connection = connection

    def _rows(self, sql: str, parameters: list[object]) -> list[tuple[Any, ...]]:
        # fetchall(): an open result would block the next statement (DuckDB 2.0).
        rows: list[tuple[Any, ...]] = self.connection.execute(sql, parameters).fetchall()
        return rows

    def head(self) -> int:
        """The last position in the export (brought up to date when the connection opened)."""
        rows = self._rows(f"SELECT coalesce(max(position), 0) FROM {BASE}", [])
        return int(rows[0][0])

    def point(self, as_of: AsOf) -> Point:
        """Where `as_of` falls in the log; a position beyond its end is unusable input."""
        if as_of.position is not None:
            head = self.head()
            if as_of.position > head:
                raise InvalidInput(
                    FIELD, f"position {as_of.position} is beyond the end of the log ({head})"
                )
            rows = self._rows(
                f"SELECT arg_max(recorded_at, position) FROM {BASE} WHERE position <= ?",
                [as_of.position],
            )
            return Point(as_of, as_of.position, rows[0][0])
        rows = self._rows(
            f"SELECT position, recorded_at FROM {BASE} WHERE recorded_at <= ? "
            "ORDER BY position DESC LIMIT 1",
            [as_of.moment],
        )
        if not rows:
            return Point(as_of, 0, None)
        return Point(as_of, int(rows[0][0]), rows[0][1])

    def aggregate(self, aggregate_id: UUID, point: Point) -> AggregateAsOf:
        """The aggregate as it was at `point`, loaded through the application."""
        rows = self._rows(
            f"""SELECT max(version) FILTER (WHERE position <= ?),
                    arg_max(recorded_at, version) FILTER (WHERE position <= ?),
                    min(position), any_value(aggregate_type)
                FROM {BASE} WHERE aggregate_id = ?""",
            [point.position, point.position, str(aggregate_id)],
        )
        version, recorded_at, first, aggregate_type = rows[0]
        if first is None:
            raise NeverRecorded(f"no aggregate {aggregate_id} in the history")
        if version is None:
            raise NotYetRecorded(
                f"{aggregate_type} {aggregate_id} did not exist at position {point.position} "
                f"(it was first recorded at position {first})"
            )
        aggregate = self._load(aggregate_id, int(version))
        shown = render_state(aggregate)
        return AggregateAsOf(
            aggregate_id=aggregate_id,
            type=type(aggregate).__qualname__,
            version=aggregate.version,
            point=point,
            recorded_at=recorded_at,
            created_at=aggregate.created_on,
            state=shown.state,
            withheld=shown.withheld,
            aggregate=aggregate,
        )

    def organisation(self, point: Point) -> Organisation:
        """People, teams, profiles (and what parts add) as they were at `point`."""
        wanted = set(_CORE)
        for types, _ in _PARTS.values():
            wanted |= types
        rows = self._rows(
            f"""SELECT aggregate_id, aggregate_type, max(version) FROM {BASE}
                WHERE position <= ? AND list_contains(?, aggregate_type)
                GROUP BY aggregate_id, aggregate_type ORDER BY min(position)""",
            [point.position, sorted(wanted)],
        )
        by_type: dict[str, list[AuditedAggregate]] = {}
        for aggregate_id, aggregate_type, version in rows:
            aggregate = self._load(UUID(aggregate_id), int(version))
            # A class of the same name elsewhere (a later capability's) is not ours.
            core = _CORE.get(aggregate_type)
            if core is not None and not isinstance(aggregate, core):
                continue
            by_type.setdefault(aggregate_type, []).append(aggregate)
        directory = Directory(
            users={u.id: u for u in by_type.get("User", ()) if isinstance(u, User)},
            teams={t.id: t for t in by_type.get("Team", ()) if isinstance(t, Team)},
            by_type=by_type,
        )
        profiles = [p for p in by_type.get("Profile", ()) if isinstance(p, Profile)]
        return Organisation(
            point=point,
            people=sorted(
                (_person(u, directory) for u in directory.users.values()),
                key=lambda p: (p.email, str(p.user_id)),
            ),
            teams=sorted(
                (_team(t, directory) for t in directory.teams.values()),
                key=lambda t: (t.name.lower(), str(t.team_id)),
            ),
            profiles=sorted(
                (
                    ProfileAsOf(p.name, sorted(str(x) for x in p.permissions), p.created_on)
                    for p in profiles
                ),
                key=lambda p: p.name.lower(),
            ),
            more={name: part(directory) for name, (_, part) in sorted(_PARTS.items())},
        )

    def _load(self, aggregate_id: UUID, version: int) -> AuditedAggregate:
        # Never from the cache (the library uses it only without a version), and
        # from the newest signed snapshot at or below `version`.
        aggregate: AuditedAggregate = self.app.repository.get(aggregate_id, version=version)
        return aggregate


@contextmanager
def looking_back(system: System) -> Iterator[TimeTravel]:
    """Time travel over the server's export, brought up to date first."""
    with fresh_connection(system) as connection:
        yield TimeTravel(system.app, connection)


def _by_email(refs: list[PersonRef]) -> list[PersonRef]:
    return sorted(refs, key=lambda r: (r.email or "", str(r.user_id)))


def _by_name(refs: list[TeamRef]) -> list[TeamRef]:
    return sorted(refs, key=lambda r: ((r.name or "").lower(), str(r.team_id)))


def _person(user: User, directory: Directory) -> PersonAsOf:
    return PersonAsOf(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=str(user.role),
        active=user.active,
        locked=user.locked,
        profile=user.profile,
        permissions=sorted(str(p) for p in user.permissions),
        granted=sorted(str(p) for p in user.granted),
        restricted=sorted(str(p) for p in user.restricted),
        teams=_by_name([directory.team(t) for t in user.teams]),
        sub_admin_of=_by_name([directory.team(t) for t in user.sub_admin_of]),
        registered_at=user.created_on,
    )


def _team(team: Team, directory: Directory) -> TeamAsOf:
    return TeamAsOf(
        team_id=team.id,
        name=team.name,
        quota=team.quota.as_dict(),
        members=_by_email([directory.person(u) for u in team.members]),
        sub_admins=_by_email([directory.person(u) for u in team.sub_admins]),
        created_at=team.created_on,
    )


# -- what officers are shown of an aggregate's state ----------------------------------------


@dataclass(frozen=True)
class Disclosure:
    """What officers are shown of one aggregate type's state.

    `withheld`: attributes never shown, in addition to the secret-like names
    every type withholds. `shown`: an allow-list; when set, nothing else is
    shown — for a type whose state is (or may one day hold) user data, which
    officers do not see: they read the record, not the data.
    """

    withheld: frozenset[str] = frozenset()
    shown: frozenset[str] | None = None


# Any attribute (or nested field, or mapping key) whose name contains one of
# these is withheld on every type: a secret, or what stands for one.
SECRET_NAME_PARTS = (
    "secret",
    "password",
    "passphrase",
    "private",
    "token_hash",
    "nonce",
    "wrapped",
)

# By aggregate type (class name). A capability whose aggregates hold user data
# (file names, the vault's metadata) or key material adds its type here; the
# time-travel test checks every type's rendering against this table.
DISCLOSURES: dict[str, Disclosure] = {
    # Only the hash of the token's secret is kept, and it still finds the token:
    # as good as a password's hash to whoever wants to test guesses against it.
    "AccessToken": Disclosure(withheld=frozenset({"token_hash"})),
    # Sessions keep no token hash (their id is derived from it, one way); shown whole.
    "Session": Disclosure(),
}

WITHHELD = "(withheld)"


@dataclass(frozen=True)
class Shown:
    state: dict[str, Any]
    withheld: list[str]


def render_state(aggregate: AuditedAggregate) -> Shown:
    """The aggregate's state as JSON values, with what was withheld listed (dotted)."""
    policy = DISCLOSURES.get(type(aggregate).__qualname__, Disclosure())
    withheld: list[str] = []
    state: dict[str, Any] = {}
    for name, value in state_attributes(aggregate).items():
        hidden = (
            _secret_like(name)
            or name in policy.withheld
            or (policy.shown is not None and name not in policy.shown)
        )
        if hidden:
            withheld.append(name)
        else:
            state[name] = to_json_value(value, name, withheld)
    return Shown(state, sorted(withheld))


def state_attributes(aggregate: AuditedAggregate) -> dict[str, Any]:
    """The public attributes of an aggregate's state, with class defaults it did not set.

    Class defaults are state added after the first snapshots were taken (e.g.
    `User.last_login_at`): an old snapshot restores without them, and reading
    them gives the default, so they are shown as such. The library's own
    bookkeeping (`_id`, `_version`, ...) is shown as the answer's own fields.
    """
    values = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    for klass in type(aggregate).__mro__:
        if klass is AuditedAggregate or not issubclass(klass, AuditedAggregate):
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_") or name in values or "ClassVar" in str(annotation):
                continue
            if name in vars(klass):
                values[name] = getattr(aggregate, name)
    return values


def _secret_like(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def to_json_value(value: Any, path: str, withheld: list[str]) -> Any:
    """`value` as JSON: UUIDs and times as text, enums as their value, sets sorted.

    What it does not know how to show safely (bytes, unknown kinds) is replaced
    by "(withheld)" and its path added to `withheld`.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return to_json_value(value.value, path, withheld)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset):
        items = [to_json_value(v, f"{path}[]", withheld) for v in value]
        return sorted(items, key=_order)
    if isinstance(value, list | tuple):
        return [to_json_value(v, f"{path}[]", withheld) for v in value]
    if isinstance(value, Mapping):
        return _named(
            ((str(to_json_value(k, path, [])), v) for k, v in value.items()), path, withheld
        )
    if is_dataclass(value) and not isinstance(value, type):
        return _named(((f.name, getattr(value, f.name)) for f in fields(value)), path, withheld)
    withheld.append(path)
    return WITHHELD


def _named(items: Iterable[tuple[str, Any]], path: str, withheld: list[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in items:
        inner = f"{path}.{name}"
        if _secret_like(name):
            withheld.append(inner)
            continue
        shown[name] = to_json_value(value, inner, withheld)
    return shown


def _order(value: Any) -> tuple[str, Any]:
    # Sets of one kind sort naturally; a mixed one still sorts, by kind first.
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return (type(value).__name__, value)
    return (type(value).__name__, json.dumps(value, sort_keys=True))
