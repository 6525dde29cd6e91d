"""The canned forensic questions, answered exactly over the export's views.

- `breach_scope`: what an actor, a session or a network touched in a window;
- `lineage`: everything that happened to one aggregate, and every event about it;
- `timeline`: what a person did and what was done to them;
- `who_had`: who held a role, a team's membership or a permission at a moment;
- `logins`: logins and refused logins from a network.

Every value an officer gives is bound as a parameter, never written into the
SQL; what is written into it are column and view names from our own lists
(`TARGET_COLUMNS`, so a capability's new target column joins the answers by
itself). Windows are half-open, [from, to), in UTC. A CIDR range is matched in
Python with `ipaddress` (DuckDB's `inet` extension cannot be loaded offline):
the distinct client addresses of the window are read once, the ones inside the
range kept, and the question bound to that list, for IPv4 and IPv6 alike.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import duckdb

from audit_queries import forensic_db
from audit_queries.columns import ENVELOPE_COLUMNS, TARGET_COLUMNS
from audit_queries.views import BASE, VIEWS
from domain import text
from domain.access import DEFAULT_PERMISSIONS, Permission, Role
from domain.errors import InvalidInput

Connection = duckdb.DuckDBPyConnection
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

# Rows a list in an answer holds at most; an answer says which lists were cut.
MAX_ROWS = 10_000
_ALL = forensic_db.MAX_ROW_LIMIT  # for our own lookups, which are bounded by the history
DEFAULT_ROWS = 1_000
MAX_MOMENT_LENGTH = 64
MAX_CIDR_LENGTH = 64
MAX_SESSION_LENGTH = 100
ROLES = frozenset(str(role) for role in Role)
PERMISSIONS = frozenset(str(permission) for permission in Permission)

# The envelope's session as canonical text. `User.SessionStarted` has a field of
# its own named `session_id` (the new session's id) that shadows the envelope's,
# so the stored value is the transcoder's {"_type_": "uuid_hex", ...} object.
SESSION = (
    "CASE WHEN starts_with(e.session_id, '{') THEN CAST(TRY_CAST("
    "json_extract_string(e.session_id, '$._data_') AS UUID) AS VARCHAR) ELSE e.session_id END"
)

# How each kind of target is named: a person by email (as officers name people), a
# team by its name (both from `directory`). A capability that lands with a view
# `<kind>s(<kind>_id, name, ...)` is named by it with no entry here, or adds one.
NAMED_BY: dict[str, tuple[str, str, str]] = {}


# -- what officers give ------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; None at either end: from the first, or up to the last, event."""

    start: datetime | None = None
    end: datetime | None = None

    def condition(self, alias: str = "e") -> tuple[str, dict[str, object]]:
        """SQL that keeps rows inside the window, and its named parameters.

        The day bounds let DuckDB skip whole files (the export is partitioned by day).
        """
        parts: list[str] = []
        values: dict[str, object] = {}
        if self.start is not None:
            parts += [f"{alias}.day >= $start_day", f"{alias}.recorded_at >= $start"]
            values.update(start_day=self.start.date(), start=self.start)
        if self.end is not None:
            parts += [f"{alias}.day <= $end_day", f"{alias}.recorded_at < $end"]
            values.update(end_day=self.end.date(), end=self.end)
        return (" AND ".join(parts) or "TRUE"), values

    def as_parameters(self) -> dict[str, str]:
        given = {"from": self.start, "to": self.end}
        return {name: moment.isoformat() for name, moment in given.items() if moment is not None}


# A "+" left unencoded in a query string arrives as a space: "09:00:00 01:00".
_SPACED_OFFSET = re.compile(r"(:\d\d(?:\.\d+)?) (\d\d:?\d\d)$")


def parse_moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with its UTC offset, as UTC; None when not given."""
    if value is None or value == "":
        return None
    if len(value) > MAX_MOMENT_LENGTH:
        raise InvalidInput(name, f"a time is at most {MAX_MOMENT_LENGTH} characters")
    value = _SPACED_OFFSET.sub(r"\1+\2", value.strip())
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            name, "not an ISO 8601 time, e.g. 2026-03-01T09:00:00Z or 2026-03-01T10:00:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput(name, "a time needs its UTC offset, e.g. 2026-03-01T09:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is after the last time there is
        raise InvalidInput(name, "outside the years 1 to 9999 in UTC") from None


def parse_window(start: str | None, end: str | None) -> Window:
    """The window [from, to) from its two ends as given (either may be left out)."""
    window = Window(parse_moment("from", start), parse_moment("to", end))
    if window.start is not None and window.end is not None and window.start >= window.end:
        raise InvalidInput("to", "must be later than from")
    return window


def parse_network(name: str, value: str) -> Network:
    """A CIDR range ("10.1.0.0/16", "2001:db8::/32"), or one address as a range of one."""
    value = value.strip()
    if not value or len(value) > MAX_CIDR_LENGTH:
        raise InvalidInput(name, "a CIDR range such as 10.1.0.0/16 or 2001:db8::/32")
    try:
        return ipaddress.ip_network(value)
    except ValueError as error:
        if "has host bits set" in str(error):
            loose = ipaddress.ip_network(value, strict=False)
            raise InvalidInput(name, f"{value} has host bits set: did you mean {loose}?") from None
        raise InvalidInput(
            name, f"{value!r} is not a CIDR range such as 10.1.0.0/16 or 2001:db8::/32"
        ) from None


def parse_uuid(name: str, value: str) -> str:
    try:
        return str(UUID(value.strip()))
    except ValueError:
        raise InvalidInput(name, "not an id (a UUID)") from None


def parse_session(value: str) -> str:
    """A session id as the envelope records it: a UUID, or `token:<id>` for an API token."""
    value = value.strip()
    if not value or len(value) > MAX_SESSION_LENGTH or text.unsafe_character(value):
        raise InvalidInput("session", "a session id (a UUID) or token:<id>")
    try:
        return str(UUID(value))
    except ValueError:
        return value


def parse_choice(name: str, value: str, choices: Iterable[str]) -> str:
    known = sorted(choices)
    if value not in known:
        raise InvalidInput(name, f"one of {', '.join(known)}")
    return value


def checked_limit(limit: int, after: int = 0) -> int:
    """A page's size (1 to MAX_ROWS rows), after a position (0: from the first)."""
    if isinstance(limit, bool) or not 1 <= limit <= MAX_ROWS:
        raise InvalidInput("limit", f"a whole number from 1 to {MAX_ROWS}")
    if isinstance(after, bool) or after < 0:
        raise InvalidInput("after", "a log position, 0 or more")
    return limit


# -- people and teams as the history knows them --------------------------------------


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    name: str


@dataclass(frozen=True)
class TeamRef:
    team_id: str
    name: str


@dataclass(frozen=True)
class Directory:
    """Everyone who ever registered and every team ever created, as the export holds them.

    Read once per version of the export (a connection's files are fixed while it is
    open, so this cannot go stale; cursors of one shared database share it) and joined
    in Python: the names live in the
    payload, the largest column, and a join in every query would read it again.
    """

    people: dict[str, Person]
    teams: dict[str, TeamRef]

    def email(self, user_id: str | None) -> str | None:
        person = self.people.get(user_id or "")
        return person.email if person else None

    def team_name(self, team_id: str | None) -> str | None:
        team = self.teams.get(team_id or "")
        return team.name if team else None


def directory(connection: duckdb.DuckDBPyConnection) -> Directory:
    remembered = forensic_db.memo(connection)
    found = remembered.get("directory")
    if found is None:
        people = _run(
            connection, "SELECT user_id, email, name FROM people", {}, row_limit=_ALL
        ).rows
        teams = _run(connection, "SELECT team_id, name FROM teams", {}, row_limit=_ALL).rows
        found = Directory(
            {str(u): Person(str(u), str(e), str(n)) for u, e, n in people},
            {str(t): TeamRef(str(t), str(n)) for t, n in teams},
        )
        remembered["directory"] = found
    return found


def find_person(connection: duckdb.DuckDBPyConnection, name: str, ref: str) -> Person:
    """Anyone who ever registered, by id or email; otherwise a 422 naming `name`."""
    ref = ref.strip()
    if not ref or len(ref) > text.EMAIL_LENGTH:
        raise InvalidInput(name, "a user id or email")
    people = directory(connection).people
    try:
        found = people.get(str(UUID(ref)))
    except ValueError:
        email = ref.lower()
        found = next((p for p in people.values() if p.email == email), None)
    if found is None:
        raise InvalidInput(name, f"no user {ref} in the history")
    return found


def find_team(connection: duckdb.DuckDBPyConnection, name: str, ref: str) -> TeamRef:
    """Any team ever created, by id or name (names are unique, ignoring case)."""
    ref = ref.strip()
    if not ref or len(ref) > text.TEAM_NAME_LENGTH:
        raise InvalidInput(name, "a team id or name")
    teams = directory(connection).teams
    try:
        found = teams.get(str(UUID(ref)))
    except ValueError:
        wanted = ref.lower()
        found = next((t for t in teams.values() if t.name.lower() == wanted), None)
    if found is None:
        raise InvalidInput(name, f"no team {ref} in the history")
    return found


def addresses_in(
    connection: duckdb.DuckDBPyConnection, network: Network, window: Window, view: str = BASE
) -> list[str]:
    """The client addresses recorded in `view` within the window that lie in `network`."""
    where, values = window.condition()
    rows = _run(
        connection,
        f"SELECT DISTINCT e.client_ip FROM {view} e WHERE e.client_ip IS NOT NULL AND {where}",
        values,
        row_limit=_ALL,
    ).rows
    return sorted(str(ip) for (ip,) in rows if in_network(str(ip), network))


def in_network(recorded: str, network: Network) -> bool:
    """Whether a recorded client address lies in `network` (IPv4-mapped IPv6 counts as IPv4)."""
    try:
        address: Address = ipaddress.ip_address(recorded.strip().strip("[]"))
    except ValueError:
        return False
    if address.version == network.version and address in network:
        return True
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped is not None and isinstance(network, ipaddress.IPv4Network) and mapped in network


# -- breach scope ------------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """One thing the scope touched: a person (named by email), a team (by name), …"""

    kind: str  # "user", "team"; "group", "project", "file", "vm" as they land
    id: str
    name: str | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class TouchedUser:
    user_id: str
    email: str | None
    name: str | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class TouchedTeam:
    team_id: str
    name: str | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class TypeCount:
    event_type: str
    count: int


@dataclass(frozen=True)
class Denial:
    position: int
    recorded_at: datetime
    event_type: str
    actor_id: str
    actor_email: str | None
    action: str | None
    target: str | None
    target_name: str | None  # the email or team name the target is
    reason: str | None
    session_id: str | None
    client_ip: str | None


@dataclass(frozen=True)
class ActorUse:
    actor_id: str
    email: str | None
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class SessionUse:
    session_id: str
    count: int
    first_at: datetime
    last_at: datetime
    client_ips: list[str]


@dataclass(frozen=True)
class AddressUse:
    client_ip: str
    count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class BreachScope:
    events: int  # every event in the scope, allowed or denied
    actors: list[ActorUse]
    sessions: list[SessionUse]
    addresses: list[AddressUse]
    touched: list[Touched]  # allowed events only: what was changed or read
    users: list[TouchedUser]
    teams: list[TouchedTeam]
    event_counts: list[TypeCount]
    denied: list[Denial]
    truncated: list[str] = field(default_factory=list)  # the lists cut at MAX_ROWS


def breach_scope(
    connection: duckdb.DuckDBPyConnection,
    *,
    actor: Person | None = None,
    session: str | None = None,
    addresses: Sequence[str] | None = None,
    window: Window = Window(),
) -> BreachScope:
    """Everything done by `actor`, in `session`, from `addresses` (all that are given) in `window`.

    `addresses` are recorded client addresses (see `addresses_in`); an empty list
    matches nothing.
    """
    if actor is None and session is None and addresses is None:
        raise InvalidInput("actor", "give an actor, a session or an ip range")
    where, bound = window.condition()
    conditions = [where]
    if actor is not None:
        conditions.append("e.actor_id = $actor")
        bound["actor"] = actor.user_id
    if session is not None:
        conditions.append(f"{SESSION} = $session")
        bound["session"] = session
    if addresses is not None:
        conditions.append("list_contains($addresses, e.client_ip)")
        bound["addresses"] = list(addresses)
    # One scan: the scope is materialised once, and every list is read from it in the
    # same statement (each an ordered list of rows, cut at MAX_ROWS).
    columns = ", ".join(f"e.{c}" for c in TARGET_COLUMNS)
    selected = ",\n".join(f"{_listed(sql, kind)} AS {name}" for name, sql, kind in _SECTIONS)
    sql = f"""WITH scope AS MATERIALIZED (
            SELECT e.position, e.recorded_at, e.event_type, e.actor_id, {SESSION} AS session,
                e.client_ip, e.outcome, e.reason, e.target, {columns}
            FROM {BASE} e WHERE {" AND ".join(conditions)}
        )
        SELECT (SELECT count(*) FROM scope) AS events,
            {selected}"""
    answer = _run(connection, sql.replace("{touched}", _touched_sql()), bound)
    found = dict(zip(answer.columns, answer.rows[0], strict=True))
    cut = [name for name, _, _ in _SECTIONS if len(found[name] or ()) > MAX_ROWS]
    lists = {
        name: [kind(**row) for row in (found[name] or [])[:MAX_ROWS]] for name, _, kind in _SECTIONS
    }
    known = directory(connection)
    names = _names_of(connection, lists["touched"])
    touched = [replace(t, name=names.get((t.kind, t.id))) for t in lists["touched"]]
    actors = [replace(a, email=known.email(a.actor_id)) for a in lists["actors"]]
    denied = [
        replace(
            d,
            actor_email=known.email(d.actor_id),
            # the target's id (user, else team) while in the query: its name, else as recorded
            target_name=known.email(d.target_name) or known.team_name(d.target_name) or d.target,
        )
        for d in lists["denied"]
    ]
    if denied:
        # What was tried is in the payload (the largest column): read for these rows only.
        actions = dict(
            _run(
                connection,
                f"SELECT e.position, e.payload->>'$.action' FROM {BASE} e WHERE {_AT_POSITIONS}",
                _positions(d.position for d in denied),
            ).rows
        )
        denied = [replace(d, action=actions.get(d.position)) for d in denied]
    return BreachScope(
        events=int(found["events"]),
        actors=actors,
        sessions=lists["sessions"],
        addresses=lists["addresses"],
        touched=touched,
        users=[
            TouchedUser(
                t.id,
                t.name,
                known.people[t.id].name if t.id in known.people else None,
                t.count,
                t.first_at,
                t.last_at,
            )
            for t in touched
            if t.kind == "user"
        ],
        teams=[
            TouchedTeam(t.id, t.name, t.count, t.first_at, t.last_at)
            for t in touched
            if t.kind == "team"
        ],
        event_counts=lists["event_counts"],
        denied=denied,
        truncated=cut,
    )


# Each list of a breach scope: its name, a query over `scope` giving the fields of
# its kind and an order `o`, and its kind.
_SECTIONS: list[tuple[str, str, type[Any]]] = [
    (
        "actors",
        """SELECT actor_id, NULL AS email, count(*) AS count, min(recorded_at) AS first_at,
            max(recorded_at) AS last_at, min(position) AS o
        FROM scope GROUP BY actor_id""",
        ActorUse,
    ),
    (
        "sessions",
        """SELECT session AS session_id, count(*) AS count, min(recorded_at) AS first_at,
            max(recorded_at) AS last_at, list_sort(list_distinct(list(client_ip))) AS client_ips,
            min(position) AS o
        FROM scope WHERE session IS NOT NULL GROUP BY session""",
        SessionUse,
    ),
    (
        "addresses",
        """SELECT client_ip, count(*) AS count, min(recorded_at) AS first_at,
            max(recorded_at) AS last_at, min(position) AS o
        FROM scope WHERE client_ip IS NOT NULL GROUP BY client_ip""",
        AddressUse,
    ),
    ("touched", "{touched}", Touched),
    (
        "event_counts",
        """SELECT event_type, count(*) AS count,
            row_number() OVER (ORDER BY count(*) DESC, event_type) AS o
        FROM scope GROUP BY event_type""",
        TypeCount,
    ),
    (
        "denied",
        """SELECT position, recorded_at, event_type, actor_id, NULL AS actor_email,
            NULL AS action, target, COALESCE(user_id, team_id) AS target_name, reason,
            session AS session_id, client_ip, position AS o
        FROM scope WHERE outcome = 'denied' AND event_type <> 'Challenge.Used'""",
        Denial,
    ),
]


def _listed(sql: str, kind: type[Any]) -> str:
    """SQL: the rows of `sql` as one ordered list of structs with `kind`'s fields."""
    names = [f.name for f in fields(kind)]
    struct = ", ".join(f"'{name}': {name}" for name in names)
    return (
        f"(SELECT list({{{struct}}} ORDER BY o) FROM "
        f"(SELECT * FROM ({sql}) ORDER BY o LIMIT {MAX_ROWS + 1}))"
    )


def _touched_sql() -> str:
    """One summary row per (kind, id) over every target column, allowed events only."""
    parts = [
        # In the order of TARGET_COLUMNS, then of first touch.
        f"""SELECT '{column.removesuffix("_id")}' AS kind, {column} AS id, NULL AS name,
            count(*) AS count, min(recorded_at) AS first_at, max(recorded_at) AS last_at,
            [{rank}, min(position)] AS o
        FROM scope WHERE {column} IS NOT NULL AND outcome = 'allowed' GROUP BY {column}"""
        for rank, column in enumerate(TARGET_COLUMNS)
    ]
    return " UNION ALL ".join(parts)


def _namer(kind: str) -> tuple[str, str, str] | None:
    if kind in NAMED_BY:
        return NAMED_BY[kind]
    view = f"{kind}s"
    if any(v.name == view for v in VIEWS):
        return (view, f"{kind}_id", "name")
    return None


# -- lineage and timeline ------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One event in a lineage or a timeline, with who, from where, and what it changed."""

    position: int
    recorded_at: datetime
    event_type: str
    aggregate_type: str
    aggregate_id: str
    actor_id: str
    actor_email: str | None
    actor_role: str | None
    session_id: str | None
    client_ip: str | None
    proxy_ip: str | None
    outcome: str
    reason: str | None
    target: str | None
    changes: dict[str, str]
    summary: str
    # lineage: "of" (the aggregate's own event) or "about" (another's, naming it);
    # timeline: "by" (the person acted), "to" (done to them) or "by, to" (both)
    relation: str


@dataclass(frozen=True)
class History:
    subject: str  # the aggregate id, or the person's user id
    subject_type: str | None  # "User", "Team", … as its own events say (None: none seen)
    subject_name: str | None  # email or team name where it has one
    rows: list[HistoryRow]
    truncated: bool  # more rows after the last one: ask again with `after`


def lineage(
    connection: duckdb.DuckDBPyConnection,
    aggregate_id: str,
    *,
    window: Window = Window(),
    after: int = 0,
    limit: int = DEFAULT_ROWS,
) -> History:
    """Every event of the aggregate, and every event naming it as a target, in log order."""
    limit = checked_limit(limit, after)
    email = _email_of(connection, aggregate_id)
    relation = "CASE WHEN e.aggregate_id = $id THEN 'of' ELSE 'about' END"
    matches = f"(e.aggregate_id = $id OR {_targets(email)})"
    rows, truncated = _history(
        connection, matches, relation, window, aggregate_id, email, after, limit
    )
    own = next((r.aggregate_type for r in rows if r.relation == "of"), None)
    if own is None:  # none of its own events on this page: ask the log
        own = _run(
            connection,
            f"SELECT any_value(aggregate_type) FROM {BASE} WHERE aggregate_id = $id",
            {"id": aggregate_id},
        ).rows[0][0]
    name = email or directory(connection).team_name(aggregate_id)
    return History(aggregate_id, own, name, rows, truncated)


def timeline(
    connection: duckdb.DuckDBPyConnection,
    person: Person,
    *,
    window: Window = Window(),
    after: int = 0,
    limit: int = DEFAULT_ROWS,
) -> History:
    """What `person` did (as actor) and what was done to them (as target), merged in order."""
    limit = checked_limit(limit, after)
    about = f"(e.aggregate_id = $id OR {_targets(person.email)})"
    relation = f"""concat_ws(', ', CASE WHEN e.actor_id = $id THEN 'by' END,
        CASE WHEN {about} THEN 'to' END)"""
    matches = f"(e.actor_id = $id OR {about})"
    rows, truncated = _history(
        connection, matches, relation, window, person.user_id, person.email, after, limit
    )
    return History(person.user_id, "User", person.email, rows, truncated)


def _targets(email: str | None) -> str:
    """SQL: the event names $id as a target (a target column, or a refusal's target)."""
    columns = [f"e.{column} = $id" for column in TARGET_COLUMNS]
    columns += ["e.target = $id", "ends_with(e.target, ':' || $id)"]
    if email is not None:
        columns.append("e.target = $email")
    return "(" + " OR ".join(columns) + ")"


def _history(
    connection: duckdb.DuckDBPyConnection,
    matches: str,
    relation: str,
    window: Window,
    subject: str,
    email: str | None,
    after: int,
    limit: int,
) -> tuple[list[HistoryRow], bool]:
    """The page of events that `matches`, with what each changed.

    Two steps: which positions match (the id and target columns only), then the
    page's rows with their payloads, found by position (the files are in position
    order, so only the parts holding the page are read): the payload is by far
    the largest column, and it is read for the page alone.
    """
    where, values = window.condition()
    named: dict[str, object] = {"id": subject} | values
    if email is not None:
        named["email"] = email
    found = _first_matches(
        connection,
        f"""SELECT e.position, {relation} AS relation FROM {BASE} e
        WHERE {matches} AND {where} AND e.position > $low AND e.position <= $high
        ORDER BY e.position LIMIT $limit""",
        named,
        after,
        limit + 1,
    )
    truncated = len(found) > limit
    relations = dict(found[:limit])
    if not relations:
        return [], truncated
    answer = _run(
        connection,
        f"""SELECT e.position, e.recorded_at, e.event_type, e.aggregate_type, e.aggregate_id,
            e.actor_id, NULL AS actor_email, e.actor_role, {SESSION} AS session_id,
            e.client_ip, e.proxy_ip, e.outcome, e.reason, e.target, e.payload
        FROM {BASE} e WHERE {_AT_POSITIONS} ORDER BY e.position""",
        _positions(relations),
        row_limit=limit,
    )
    known = directory(connection)
    names = {u: p.email for u, p in known.people.items()} | {
        t: team.name for t, team in known.teams.items()
    }
    history = []
    for record in answer.rows:
        row: dict[str, Any] = dict(zip(answer.columns, record, strict=True))
        changes = describe_changes(row["event_type"], json.loads(row.pop("payload")), names)
        row["actor_email"] = known.email(row["actor_id"])
        history.append(
            HistoryRow(
                **row,
                changes=changes,
                summary=summarise(changes),
                relation=relations[row["position"]],
            )
        )
    return history, truncated


# The first stretch of the log searched for a page of matches, in positions; each next
# stretch is twice as long, so a page that fills early stops early and one that does not
# costs at most one scan of the rest.
FIRST_STRETCH = 1 << 20


def _first_matches(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    values: dict[str, object],
    after: int,
    wanted: int,
) -> list[tuple[Any, ...]]:
    """The first `wanted` rows of `sql` (in position order, over ($low, $high]) after `after`.

    The export's files and row groups are in position order and carry their positions'
    range, so a stretch of positions reads only the files that hold it.
    """
    last = forensic_db.exported_upto(connection)
    found: list[tuple[Any, ...]] = []
    low, stretch = after, FIRST_STRETCH
    while low < last and len(found) < wanted:
        high = min(last, low + stretch)
        bound = values | {"low": low, "high": high, "limit": wanted - len(found)}
        found += _run(connection, sql, bound, row_limit=wanted).rows
        low, stretch = high, stretch * 2
    return found


# Rows by position, as a semi-join: DuckDB turns it into a filter inside the scan, which
# skips the files and row groups that hold none of them (positions are in file order).
# Measured on 10M events, 227 positions over a month: 0.23 s; `list_contains` in the
# WHERE clause read the payload of every row in range, 0.7 s.
_AT_POSITIONS = "e.position IN (SELECT unnest($positions))"


def _positions(positions: Iterable[int]) -> dict[str, object]:
    return {"positions": sorted(positions)}


# -- what an event changed, in words -------------------------------------------------

# Not part of what an event says happened: the library's fields, the envelope,
# and secrets' hashes and key material (shown as present, not as their bytes).
_NOT_CHANGES = {"timestamp", "originator_topic", "originator_id", "originator_version"}
_NOT_CHANGES |= set(ENVELOPE_COLUMNS)
_HIDDEN = {"token_hash", "nonce", "signing_public_key", "encryption_public_key"}
# What a before/after pair is a change of, by event type.
_CHANGE_OF = {
    "User.RoleChanged": "role",
    "User.PermissionsChanged": "permissions",
    "Team.QuotaChanged": "quota",
}


def describe_changes(
    event_type: str, payload: Mapping[str, Any], names: Mapping[str, str]
) -> dict[str, str]:
    """An event's own fields as readable text: "role": "user → sub-admin", "user": an email."""
    changes: dict[str, str] = {}
    if "before" in payload and "after" in payload:
        what = _CHANGE_OF.get(event_type, "change")
        before, after = payload["before"], payload["after"]
        if isinstance(before, dict) and isinstance(after, dict):
            moved = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
            changes[what] = ", ".join(
                f"{k} {_plain(before.get(k), names)} → {_plain(after.get(k), names)}" for k in moved
            )
        else:
            changes[what] = f"{_plain(before, names)} → {_plain(after, names)}"
    for key, value in payload.items():
        if key in _NOT_CHANGES or key in ("before", "after"):
            continue
        label = key.removesuffix("_id") if key in TARGET_COLUMNS else key
        changes[label] = "(recorded)" if key in _HIDDEN else _plain(value, names)
    return changes


def summarise(changes: Mapping[str, str]) -> str:
    return "; ".join(f"{key}: {value}" for key, value in changes.items())


def _plain(value: Any, names: Mapping[str, str]) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        kind, data = value.get("_type_"), value.get("_data_")
        if kind == "uuid_hex" and isinstance(data, str):
            uuid = str(UUID(hex=data))
            return names.get(uuid, uuid)
        if kind is not None and isinstance(data, str):
            return data  # datetime_iso and the like: already text
        return ", ".join(f"{k}={_plain(v, names)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_plain(v, names) for v in value) or "-"
    return str(value)


# -- who had a role, a membership or a permission at a moment ------------------------


@dataclass(frozen=True)
class Holder:
    """Someone who held it at the moment asked about, since when and by whose doing."""

    user_id: str
    email: str | None
    name: str | None
    holding: str  # the role or permission; "member" or "sub-admin" of a team
    since: datetime
    position: int  # the event that gave it (the last such since it was last lost)
    event_type: str
    granted_by: str
    granted_by_email: str | None


@dataclass(frozen=True)
class Holders:
    question: str  # "role", "team" or "permission"
    value: str  # the role, the team's id, or the permission
    value_name: str | None  # the team's name
    at: datetime | None  # None: as of the last event recorded
    holders: list[Holder]
    truncated: bool


def who_had_role(
    connection: duckdb.DuckDBPyConnection, role: str, at: datetime | None = None
) -> Holders:
    """Who held `role` at `at`: a registration makes a user; each role change after."""
    role = parse_choice("role", role, ROLES)
    changes = f"""SELECT aggregate_id AS user_id, $value AS holding, position, recorded_at,
            event_type, actor_id, $value = 'user' AS holds
        FROM {BASE} WHERE event_type = 'User.Registered'
        UNION ALL
        SELECT user_id, $value, position, recorded_at, event_type, actor_id,
            payload->>'$.after' = $value
        FROM {BASE} WHERE event_type = 'User.RoleChanged'"""
    holders, cut = _holders(connection, changes, {"value": role}, at)
    return Holders("role", role, None, at, holders, cut)


def who_had_team(
    connection: duckdb.DuckDBPyConnection, team: TeamRef, at: datetime | None = None
) -> Holders:
    """Who was a member (added, not removed since) or a sub-admin of `team` at `at`."""
    # The team's own events name the member in a column: no payload to read.
    changes = f"""SELECT user_id,
            CASE event_type WHEN 'Team.SubAdminAssigned' THEN 'sub-admin' ELSE 'member' END
                AS holding,
            position, recorded_at, event_type, actor_id, event_type <> 'Team.MemberRemoved' AS holds
        FROM {BASE} WHERE team_id = $value AND aggregate_type = 'Team'
            AND event_type IN ('Team.MemberAdded', 'Team.MemberRemoved', 'Team.SubAdminAssigned')"""
    holders, cut = _holders(connection, changes, {"value": team.team_id}, at)
    return Holders("team", team.team_id, team.name, at, holders, cut)


def who_had_permission(
    connection: duckdb.DuckDBPyConnection, permission: str, at: datetime | None = None
) -> Holders:
    """Who held `permission` at `at`, replaying every change of a person's permissions.

    A registration gives the default permissions; a permission change records the
    whole effective set after it; removal from one's last team resets to the
    defaults (its own event, not a permission change).
    """
    permission = parse_choice("permission", permission, PERMISSIONS)
    default = permission in {str(p) for p in DEFAULT_PERMISSIONS}
    changes = f"""SELECT aggregate_id AS user_id, $value AS holding, position, recorded_at,
            event_type, actor_id, $default AS holds
        FROM {BASE} WHERE event_type IN ('User.Registered', 'User.ReleasedFromLastTeam')
        UNION ALL
        SELECT user_id, $value, position, recorded_at, event_type, actor_id,
            list_contains(from_json(payload->'$.after', '["VARCHAR"]'), $value)
        FROM {BASE} WHERE event_type = 'User.PermissionsChanged'"""
    holders, cut = _holders(connection, changes, {"value": permission, "default": default}, at)
    return Holders("permission", permission, None, at, holders, cut)


def _holders(
    connection: duckdb.DuckDBPyConnection,
    changes: str,
    values: dict[str, object],
    at: datetime | None,
) -> tuple[list[Holder], bool]:
    """Replay `changes` (user_id, holding, position, recorded_at, event_type, actor_id, holds)
    up to `at`: the last change at or before it decides; the holder's `since` is the change
    that last gave it (a later change that kept it gives nothing)."""
    upto, bound = "TRUE", dict(values)
    if at is not None:
        upto = "recorded_at <= $at"
        bound["at"] = at
    sql = f"""WITH changes AS ({changes}),
        upto AS (
            SELECT *, lag(holds) OVER (PARTITION BY user_id, holding ORDER BY position) AS held
            FROM changes WHERE {upto}
        ),
        decided AS (
            SELECT user_id, holding, arg_max(holds, position) AS holds_now,
                max(position) FILTER (WHERE holds AND held IS DISTINCT FROM TRUE) AS given_at
            FROM upto GROUP BY user_id, holding
        )
        SELECT d.user_id, d.holding, u.recorded_at AS since, u.position, u.event_type,
            u.actor_id AS granted_by
        FROM decided d JOIN upto u ON u.position = d.given_at
        WHERE d.holds_now"""
    known = directory(connection)
    holders = []
    for user_id, holding, since, position, event_type, granted_by in _run(
        connection, sql, bound, row_limit=_ALL
    ).rows:
        person = known.people.get(user_id)
        holders.append(
            Holder(
                user_id=user_id,
                email=person.email if person else None,
                name=person.name if person else None,
                holding=holding,
                since=since,
                position=position,
                event_type=event_type,
                granted_by=granted_by,
                granted_by_email=known.email(granted_by),
            )
        )
    holders.sort(key=lambda h: (h.holding, h.email or "", h.user_id))
    return holders[:MAX_ROWS], len(holders) > MAX_ROWS


# -- logins from a network ------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    position: int
    recorded_at: datetime
    user_id: str | None  # None: no such account
    email: str | None
    client_ip: str | None
    proxy_ip: str | None
    session_id: str | None
    outcome: str  # "allowed" or "denied"
    reason: str | None


@dataclass(frozen=True)
class Logins:
    network: str
    addresses: list[str]  # the recorded client addresses in the range
    allowed: int
    denied: int
    logins: list[Login]
    truncated: bool


def logins_from(
    connection: duckdb.DuckDBPyConnection, network: Network, window: Window = Window()
) -> Logins:
    """Every login and refused login from an address in `network`, in the window, in order."""
    addresses = addresses_in(connection, network, window, view="logins")
    where, values = window.condition()
    answer = _run(
        connection,
        f"""SELECT e.position, e.recorded_at, e.user_id, e.email, e.client_ip, e.proxy_ip,
            e.session_id, e.outcome, e.reason
        FROM logins e WHERE list_contains($addresses, e.client_ip) AND {where}
        ORDER BY e.position LIMIT {MAX_ROWS + 1}""",
        {"addresses": addresses} | values,
    )
    logins = _as(Login, answer)
    allowed = sum(1 for login in logins if login.outcome == "allowed")
    return Logins(str(network), addresses, allowed, len(logins) - allowed, logins, answer.truncated)


# -- running ------------------------------------------------------------------------------


def _run(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    values: dict[str, object],
    *,
    row_limit: int = MAX_ROWS,
) -> forensic_db.Answer:
    return forensic_db.run(connection, sql, values, row_limit=row_limit)


def _as(kind: type[T], answer: forensic_db.Answer) -> list[T]:
    """The answer's rows as `kind` (a dataclass whose fields are the answer's columns)."""
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    if answer.columns != names:
        raise AssertionError(f"{kind.__name__}: columns {answer.columns} are not {names}")
    return [kind(*row) for row in answer.rows]


def _email_of(connection: duckdb.DuckDBPyConnection, user_id: str) -> str | None:
    return directory(connection).email(user_id)


def _names_of(
    connection: duckdb.DuckDBPyConnection, touched: Sequence[Touched]
) -> dict[tuple[str, str], str]:
    """How an officer knows each target: a person by email, a team by name, others by their
    view's `name` (one query a kind)."""
    known = directory(connection)
    names: dict[tuple[str, str], str] = {}
    others: dict[str, list[str]] = {}
    for t in touched:
        name = (
            known.email(t.id)
            if t.kind == "user"
            else known.team_name(t.id)
            if t.kind == "team"
            else None
        )
        if name is not None:
            names[(t.kind, t.id)] = name
        elif t.kind not in ("user", "team"):
            others.setdefault(t.kind, []).append(t.id)
    for kind, ids in others.items():
        namer = _namer(kind)
        if namer is None:
            continue
        view, key, label = namer
        rows = _run(
            connection,
            f"SELECT {key}, {label} FROM {view} WHERE list_contains($ids, {key})",
            {"ids": ids},
            row_limit=_ALL,
        ).rows
        names |= {(kind, str(k)): str(v) for k, v in rows if v is not None}
    return names
