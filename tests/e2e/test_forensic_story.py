"""A scripted story over HTTP, then every canned forensic question against its known truth.

Several people work a day through the real API with the client SDK (role changes,
team moves, refused actions, failed logins from two networks, a lockout); at night
a stolen key is used from outside; next morning an officer asks the questions.

The story writes down what happens as it happens: for each step, the events it
must have recorded (type, who, from where, about whom, what changed). After each
step the log is read and must hold exactly those events; the story keeps their
positions. Each question's expected answer is then worked out from that truth in
plain Python, and compared with the server's answer row for row (equality of the
whole answer, not "contains"). The questions asked are events too, and join the
truth as they are asked.

Client addresses: the server believes X-Forwarded-For only from its trusted proxies
(STRONGROOM_TRUSTED_PROXIES); here the test's loopback address is that proxy, and
each person's client says which network it is on. Time: a manual clock is
installed in the server's process (the domain's clock is injected), so every event
time is known to the second and no session is ever touched or idles out
unexpectedly. The alert rules are switched off, so nothing is recorded that the
story did not do.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.local_server import live_server
from client.api import ApiError, StrongroomClient
from client.keys import UserKeys
from client.session_file import SavedSession, save_session
from domain.application import Strongroom
from domain.audit_access import OFFICERS_ONLY
from domain.clock import clock_installed
from domain.envelope import AuditContext, acting_as
from domain.identity import Identity, Registration
from domain.sessions import session_id_for
from tests.api.cli_runner import env_for, strongroom
from tests.stores import store_settings

PROXY = "127.0.0.1"  # the trusted proxy every client's requests come through
HQ, VPN = "10.10.0.0/16", "203.0.113.0/24"
OUTSIDE, OUTSIDE_V6 = "198.51.100.0/24", "2001:db8:bad::/48"
ATTACKER, ATTACKER_V6 = "198.51.100.23", "2001:db8:bad::9"
REC = "(recorded)"  # how a key, a nonce or a token hash shows in what changed
QUOTA = "storage_bytes=107374182400, vm_count=2, cpu_cores=8"
DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 2, 23, 10, tzinfo=UTC)
MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
RULES = "\n".join(
    f"[{rule}]\nenabled = false"
    for rule in (
        "user_added",
        "state_changed",
        "role_changed",
        "user_locked",
        "ip_change",
        "denied_burst",
        "outside_hours",
    )
)


class Via(httpx.HTTPTransport):
    """A client on another network, behind the trusted proxy: it names its address."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["X-Forwarded-For"] = self.address
        return super().handle_request(request)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# -- the truth ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """An event a step must record: who, from where, about whom, and what it says."""

    type: str
    actor: str
    role: str
    session: str | None
    ip: str | None
    proxy: str | None
    aggregate: str | None = None  # None: a new one the test cannot know (a challenge)
    user: str | None = None  # the person it is about (the export's user_id)
    team: str | None = None
    outcome: str = "allowed"
    reason: str | None = None
    target: str | None = None  # a refusal's target, as recorded
    changes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event(Expect):
    position: int = 0
    at: datetime = DAY

    @property
    def aggregate_id(self) -> str:
        assert self.aggregate is not None
        return self.aggregate


@dataclass
class Person:
    label: str
    name: str
    ip: str
    keys: UserKeys = field(default_factory=UserKeys.generate)
    id: str = ""
    role: str = "user"
    session: str | None = None
    client: StrongroomClient | None = None

    @property
    def email(self) -> str:
        return f"{self.label}@enclave.edu"

    @property
    def api(self) -> StrongroomClient:
        assert self.client is not None, f"{self.label} is not logged in"
        return self.client


class Story:
    def __init__(self, app: Strongroom, clock: ManualClock, url: str) -> None:
        self.app, self.clock, self.url = app, clock, url
        self.truth: list[Event] = []
        self.head = 0
        self.emails: dict[str, str] = {}  # user id -> email
        self.names: dict[str, str] = {}  # user id -> name
        self.team_names: dict[str, str] = {}  # team id -> name
        self.genomics = self.imaging = ""

    # -- time and the log --

    def tick(self, seconds: int = 1) -> datetime:
        return self.clock.advance(timedelta(seconds=seconds))

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def happened(self, *expected: Expect) -> list[Event]:
        """The events recorded since the last step are exactly `expected`; they join the truth."""
        notifications = self.app.recorder.select_notifications(start=self.head + 1, limit=1000)
        recorded: list[tuple[int, Any]] = [
            (n.id, self.app.mapper.to_domain_event(n)) for n in notifications
        ]
        got = [(type(e).__qualname__, e.actor_id, e.client_ip) for _, e in recorded]
        want = [(x.type, x.actor, x.ip) for x in expected]
        assert got == want, f"recorded {got}, expected {want}"
        events = []
        for (position, e), x in zip(recorded, expected, strict=True):
            aggregate = str(e.originator_id)
            session = None if e.session_id is None else str(e.session_id)
            assert x.aggregate in (None, aggregate), f"{x.type}: {aggregate}, not {x.aggregate}"
            assert (e.actor_role, session, e.proxy_ip) == (x.role, x.session, x.proxy), x.type
            assert e.timestamp == self.now, x.type
            events.append(
                Event(**{**vars(x), "aggregate": aggregate}, position=position, at=self.now)
            )
        self.truth += events
        if recorded:
            self.head = recorded[-1][0]
        return events

    def quiet(self) -> None:
        """Nothing was recorded since the last step."""
        self.happened()

    # -- who did it --

    @staticmethod
    def anonymous(ip: str, type: str, **details: Any) -> Expect:
        return Expect(type, "anonymous", "anonymous", None, ip, PROXY, **details)

    @staticmethod
    def by(person: Person, type: str, **details: Any) -> Expect:
        return Expect(type, person.id, person.role, person.session, person.ip, PROXY, **details)

    # -- what common steps record --

    def registered(self, person: Person) -> list[Expect]:
        self.emails[person.id], self.names[person.id] = person.email, person.name
        changes = {
            "email": person.email,
            "name": person.name,
            "signing_public_key": REC,
            "encryption_public_key": REC,
        }
        return [
            self.anonymous(
                person.ip, "User.Registered", aggregate=person.id, user=person.id, changes=changes
            ),
            self.anonymous(
                person.ip,
                "EmailIndex.Claimed",
                user=person.id,
                changes={"email": person.email, "user": person.email},
            ),
        ]

    def challenge(self, ip: str, email: str) -> Expect:
        expires = iso(self.now + timedelta(seconds=60))
        changes = {"nonce": REC, "email": email, "expires_at": expires}
        return self.anonymous(ip, "Challenge.Issued", changes=changes)

    def logged_in(self, person: Person, ip: str) -> list[Expect]:
        started, expires = iso(self.now), iso(self.now + timedelta(hours=12))
        session = {"token_hash": REC, "user": person.email, "role": person.role}
        session |= {"started_at": started, "expires_at": expires, "idle_seconds": "1800"}
        assert person.session is not None
        return [
            self.challenge(ip, person.email),
            replace(
                self.by(person, "Session.Started"),
                ip=ip,
                aggregate=person.session,
                user=person.id,
                changes=session,
            ),
            replace(self.by(person, "Challenge.Used"), ip=ip, changes={"outcome": "logged in"}),
            replace(
                self.by(person, "User.SessionStarted"),
                ip=ip,
                aggregate=person.id,
                user=person.id,
                changes={"expires_at": expires, "at": started},
            ),
        ]

    def bad_signature(self, person: Person, ip: str, *, locks: bool = False) -> list[Expect]:
        failed = {
            "reason": "bad signature",
            "at": iso(self.now),
            "window_start": iso(self.now - timedelta(minutes=15)),
        }
        events = [
            self.challenge(ip, person.email),
            self.anonymous(
                ip,
                "Challenge.Used",
                outcome="denied",
                reason="bad signature",
                changes={"outcome": "refused: bad signature"},
            ),
            self.anonymous(
                ip,
                "User.LoginFailed",
                aggregate=person.id,
                user=person.id,
                outcome="denied",
                reason="bad signature",
                changes=failed,
            ),
        ]
        if locks:
            reason = "5 failed logins within 15 minutes"
            events.append(
                self.anonymous(
                    ip,
                    "User.Locked",
                    aggregate=person.id,
                    user=person.id,
                    reason=reason,
                    changes={"reason": reason},
                )
            )
        return events

    def login_refused(self, ip: str, email: str, reason: str) -> list[Expect]:
        return [
            self.challenge(ip, email),
            self.anonymous(
                ip,
                "Challenge.Used",
                outcome="denied",
                reason=reason,
                changes={"outcome": f"refused: {reason}"},
            ),
            self.anonymous(
                ip,
                "DeniedAttempt.Recorded",
                outcome="denied",
                reason=reason,
                target=email,
                changes={"action": "login", "target": email, "reason": reason},
            ),
        ]

    def refused(
        self, person: Person, action: str, reason: str, target: str | None = None
    ) -> Expect:
        team = target.removeprefix("team:") if target and target.startswith("team:") else None
        user = target if target and not team and _is_uuid(target) else None
        return self.by(
            person,
            "DeniedAttempt.Recorded",
            user=user,
            team=team,
            outcome="denied",
            reason=reason,
            target=target,
            changes={"action": action, "target": target or "-", "reason": reason},
        )

    def team_created(self, person: Person, team: str, name: str) -> list[Expect]:
        self.team_names[team] = name
        return [
            self.by(
                person,
                "Team.Created",
                aggregate=team,
                team=team,
                changes={"name": name, "quota": QUOTA},
            ),
            self.by(person, "TeamName.Claimed", team=team, changes={"name": name, "team": name}),
        ]

    def membership(self, person: Person, change: str, team: str, member: Person) -> list[Expect]:
        """Team.MemberAdded/User.JoinedTeam, …MemberRemoved/LeftTeam, …SubAdminAssigned."""
        team_event, user_event = {
            "added": ("Team.MemberAdded", "User.JoinedTeam"),
            "removed": ("Team.MemberRemoved", "User.LeftTeam"),
            "sub-admin": ("Team.SubAdminAssigned", "User.AssignedAsSubAdmin"),
        }[change]
        about = {"user": member.id, "team": team}
        return [
            self.by(person, team_event, aggregate=team, **about, changes={"user": member.email}),
            self.by(
                person,
                user_event,
                aggregate=member.id,
                **about,
                changes={"team": self.team_names[team]},
            ),
        ]

    def on_user(self, person: Person, type: str, target: Person, **changes: str) -> Expect:
        return self.by(person, type, aggregate=target.id, user=target.id, changes=changes)

    def role_changed(self, person: Person, target: Person, after: str) -> list[Expect]:
        by_super = "true" if person.role == "super-admin" else "false"
        changes = {"role": f"{target.role} → {after}", "by_super_admin": by_super}
        events = [self.on_user(person, "User.RoleChanged", target, **changes)]
        if target.session is not None:
            reason = f"the role changed to {after}"
            events += [
                self.on_user(
                    person, "User.SessionsEnded", target, session_ids=target.session, reason=reason
                ),
                self.by(
                    person,
                    "Session.Ended",
                    aggregate=target.session,
                    reason=reason,
                    changes={"reason": reason},
                ),
            ]
        target.role = after
        return events

    def asked(
        self,
        officer: Person,
        question: str,
        parameters: Mapping[str, str],
        rows: int,
        *,
        user: str | None = None,
        team: str | None = None,
    ) -> Expect:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(parameters.items()))
        return self.by(
            officer,
            "ForensicQuestion.Asked",
            user=user,
            team=team,
            target=question,  # the export names which question (audit_queries/columns.py)
            changes={
                "question": question,
                "parameters": shown or "-",
                "rows": str(rows),
                "user": self.emails[user] if user else "-",
                "team": self.team_names[team] if team else "-",
            },
        )

    # -- lookups in the truth --

    def find(self, type: str, aggregate: str, nth: int = 0) -> Event:
        return [e for e in self.truth if e.type == type and e.aggregate == aggregate][nth]


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


# -- the expected answers, worked out from the truth -----------------------------------------


Predicate = Callable[[Event], bool]


def within(start: datetime | None = None, end: datetime | None = None) -> Predicate:
    return lambda e: (start is None or e.at >= start) and (end is None or e.at < end)


def in_range(cidr: str) -> Predicate:
    network = ipaddress.ip_network(cidr)
    return lambda e: e.ip is not None and ipaddress.ip_address(e.ip) in network


def span(events: list[Event]) -> dict[str, Any]:
    return {"count": len(events), "first_at": events[0].at, "last_at": events[-1].at}


def grouped(events: list[Event], key: Callable[[Event], str | None]) -> dict[str, list[Event]]:
    """Events by `key` (None left out), in order of each group's first event."""
    groups: dict[str, list[Event]] = {}
    for e in events:
        k = key(e)
        if k is not None:
            groups.setdefault(k, []).append(e)
    return groups


def expected_scope(story: Story, keep: Predicate) -> dict[str, Any]:
    scope = [e for e in story.truth if keep(e)]
    allowed = [e for e in scope if e.outcome == "allowed"]
    users, teams = grouped(allowed, lambda e: e.user), grouped(allowed, lambda e: e.team)
    sessions = grouped(scope, lambda e: e.session)
    counts = sorted(Counter(e.type for e in scope).items(), key=lambda kv: (-kv[1], kv[0]))

    def target_name(e: Event) -> str | None:
        if e.user:
            return story.emails[e.user]
        return story.team_names[e.team] if e.team else e.target

    return {
        "events": len(scope),
        "actors": [
            {"actor_id": a, "email": story.emails.get(a)} | span(es)
            for a, es in grouped(scope, lambda e: e.actor).items()
        ],
        "sessions": [
            {"session_id": s} | span(es) | {"client_ips": sorted({e.ip for e in es if e.ip})}
            for s, es in sessions.items()
        ],
        "addresses": [
            {"client_ip": ip} | span(es) for ip, es in grouped(scope, lambda e: e.ip).items()
        ],
        "touched": [
            {"kind": "user", "id": u, "name": story.emails[u]} | span(es) for u, es in users.items()
        ]
        + [
            {"kind": "team", "id": t, "name": story.team_names[t]} | span(es)
            for t, es in teams.items()
        ],
        "users": [
            {"user_id": u, "email": story.emails[u], "name": story.names[u]} | span(es)
            for u, es in users.items()
        ],
        "teams": [
            {"team_id": t, "name": story.team_names[t]} | span(es) for t, es in teams.items()
        ],
        "event_counts": [{"event_type": t, "count": n} for t, n in counts],
        "denied": [
            {
                "position": e.position,
                "recorded_at": e.at,
                "event_type": e.type,
                "actor_id": e.actor,
                "actor_email": story.emails.get(e.actor),
                "action": e.changes.get("action") if e.type == "DeniedAttempt.Recorded" else None,
                "target": e.target,
                "target_name": target_name(e),
                "reason": e.reason,
                "session_id": e.session,
                "client_ip": e.ip,
            }
            for e in scope
            if e.outcome == "denied" and e.type != "Challenge.Used"
        ],
        "truncated": [],
    }


def history_row(story: Story, e: Event, relation: str) -> dict[str, Any]:
    return {
        "position": e.position,
        "recorded_at": e.at,
        "event_type": e.type,
        "aggregate_type": e.type.partition(".")[0],
        "aggregate_id": e.aggregate,
        "actor_id": e.actor,
        "actor_email": story.emails.get(e.actor),
        "actor_role": e.role,
        "session_id": e.session,
        "client_ip": e.ip,
        "proxy_ip": e.proxy,
        "outcome": e.outcome,
        "reason": e.reason,
        "target": e.target,
        "changes": dict(e.changes),
        "summary": "; ".join(f"{k}: {v}" for k, v in e.changes.items()),
        "relation": relation,
    }


def names_it(story: Story, e: Event, subject: str) -> bool:
    email = story.emails.get(subject)
    return (
        subject in (e.user, e.team, e.target)
        or (e.target is not None and e.target.endswith(f":{subject}"))
        or (email is not None and e.target == email)
    )


def expected_lineage(
    story: Story, subject: str, kind: str, name: str | None, keep: Predicate | None = None
) -> dict[str, Any]:
    keep = keep or within()
    rows = [
        history_row(story, e, "of" if e.aggregate == subject else "about")
        for e in story.truth
        if keep(e) and (e.aggregate == subject or names_it(story, e, subject))
    ]
    return {
        "subject": subject,
        "subject_type": kind,
        "subject_name": name,
        "rows": rows,
        "truncated": False,
    }


def expected_timeline(
    story: Story, person: Person, keep: Predicate | None = None
) -> dict[str, Any]:
    keep = keep or within()
    rows = []
    for e in story.truth:
        by = e.actor == person.id
        to = e.aggregate == person.id or names_it(story, e, person.id)
        if keep(e) and (by or to):
            rows.append(
                history_row(story, e, ", ".join(r for r, x in (("by", by), ("to", to)) if x))
            )
    return {
        "subject": person.id,
        "subject_type": "User",
        "subject_name": person.email,
        "rows": rows,
        "truncated": False,
    }


def expected_logins(story: Story, cidr: str, keep: Predicate | None = None) -> dict[str, Any]:
    keep = keep or within()
    by_email = {email: user for user, email in story.emails.items()}
    rows = []
    for e in story.truth:
        if not (keep(e) and in_range(cidr)(e)):
            continue
        if e.type == "Session.Started":
            user, outcome, session = e.user, "allowed", e.session
        elif e.type == "User.LoginFailed":
            user, outcome, session = e.user, "denied", None
        elif e.type == "DeniedAttempt.Recorded" and e.changes.get("action") == "login":
            user, outcome, session = by_email.get(str(e.target)), "denied", None
        else:
            continue
        email = story.emails[user] if user else e.target
        rows.append(
            {
                "position": e.position,
                "recorded_at": e.at,
                "user_id": user,
                "email": email,
                "client_ip": e.ip,
                "proxy_ip": e.proxy,
                "session_id": session,
                "outcome": outcome,
                "reason": e.reason,
            }
        )
    return {
        "network": cidr,
        "addresses": sorted({str(r["client_ip"]) for r in rows}),
        "allowed": sum(r["outcome"] == "allowed" for r in rows),
        "denied": sum(r["outcome"] == "denied" for r in rows),
        "logins": rows,
        "truncated": False,
    }


def holder(story: Story, person: Person, holding: str, given: Event) -> dict[str, Any]:
    return {
        "user_id": person.id,
        "email": person.email,
        "name": person.name,
        "holding": holding,
        "since": given.at,
        "position": given.position,
        "event_type": given.type,
        "granted_by": given.actor,
        "granted_by_email": story.emails.get(given.actor),
    }


def first_difference(got: Any, expected: Any, where: str = "") -> str:
    """Where two answers first part ways, for a failure message that says it."""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in sorted(set(got) | set(expected)):
            if got.get(key) != expected.get(key):
                return first_difference(got.get(key), expected.get(key), f"{where}.{key}")
    if isinstance(got, list) and isinstance(expected, list):
        for i, (a, b) in enumerate(zip(got, expected, strict=False)):
            if a != b:
                return first_difference(a, b, f"{where}[{i}]")
        if len(got) != len(expected):
            return f"{where}: {len(got)} items, expected {len(expected)}"
    return f"{where}: got {got!r}, expected {expected!r}"


TIMES = {"recorded_at", "first_at", "last_at", "since", "at"}


def answer(value: Any) -> Any:
    """An answer as JSON gave it, with its times as datetimes (to compare with the truth)."""
    if isinstance(value, dict):
        return {
            k: datetime.fromisoformat(v)
            if k in TIMES and isinstance(v, str)
            else v
            if k == "changes"  # the event's own words, as text
            else answer(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [answer(v) for v in value]
    return value


# -- the story ----------------------------------------------------------------------------------


@pytest.fixture
def story_settings(store_kind: str, tmp_path: Path) -> Iterator[Settings]:
    rules = tmp_path / "no-alerts.toml"
    rules.write_text(RULES)
    with store_settings(
        store_kind,
        tmp_path / "home",
        STRONGROOM_TRUSTED_PROXIES=PROXY,
        STRONGROOM_ALERT_RULES=str(rules),
    ) as settings:
        yield settings


def log_in(story: Story, person: Person, ip: str | None = None) -> None:
    """`person` signs a challenge from `ip` (their own network unless given)."""
    person.ip = ip or person.ip
    person.client = StrongroomClient(story.url, transport=Via(person.ip))
    token = person.client.login(person.keys, person.email)["token"]
    person.session = str(session_id_for(sha256(token.encode()).hexdigest()))
    story.happened(*story.logged_in(person, person.ip))


def attempt_with(story: Story, keys: UserKeys, email: str, ip: str) -> None:
    """A login attempt that must be refused (401)."""
    with pytest.raises(ApiError) as refused:
        StrongroomClient(story.url, transport=Via(ip)).login(keys, email)
    assert refused.value.status == 401


def forbidden(call: Callable[[], object]) -> None:
    with pytest.raises(ApiError) as refused:
        call()
    assert refused.value.status == 403


def test_every_canned_question_tells_the_story_exactly(
    story_settings: Settings, tmp_path: Path
) -> None:
    settings = story_settings
    clock = ManualClock(DAY - timedelta(minutes=5))
    root = Person("root", "Root", "10.10.0.2")
    ada = Person("ada", "Ada Admin", "10.10.0.4")
    olive = Person("olive", "Olive Officer", "10.10.0.5")
    sam = Person("sam", "Sam Sub", "10.10.0.6")
    rae = Person("rae", "Rae Researcher", "203.0.113.7")
    eve = Person("eve", "Eve", ATTACKER)
    stranger = UserKeys.generate()  # not Rae's key

    # Installation: the first super-admin, by the system (as `strongroom init` does).
    app = open_system(settings, clock=clock).app
    with acting_as(AuditContext.system("bootstrap")):
        root.id = str(
            Identity(app).bootstrap_super_admin(
                Registration(**root.keys.registration(root.email, root.name))
            )
        )
    try:
        with live_server(settings) as url, clock_installed(clock):
            story = Story(app, clock, url)
            story.emails[root.id], story.names[root.id] = root.email, root.name
            system = Expect("User.Registered", "system:bootstrap", "system", None, None, None)
            registered = story.registered(root)
            story.happened(
                replace(system, aggregate=root.id, user=root.id, changes=registered[0].changes),
                replace(
                    system,
                    type="User.RoleChanged",
                    aggregate=root.id,
                    user=root.id,
                    changes={"role": "user → super-admin", "by_super_admin": "true"},
                ),
                replace(system, type="User.Activated", aggregate=root.id, user=root.id),
                replace(
                    system, type="EmailIndex.Claimed", user=root.id, changes=registered[1].changes
                ),
            )
            root.role = "super-admin"
            tell_the_day(story, root, ada, olive, sam, rae, stranger)
            tell_the_night(story, sam, eve)
            ask_the_questions(story, root, ada, olive, sam, rae, eve, settings, tmp_path)
    finally:
        app.close()


def tell_the_day(
    story: Story,
    root: Person,
    ada: Person,
    olive: Person,
    sam: Person,
    rae: Person,
    stranger: UserKeys,
) -> None:
    clock = story.clock
    clock.advance(DAY - story.now)
    # 09:00:00 Root logs in at headquarters and makes two teams.
    log_in(story, root)
    story.tick()
    genomics = root.api.create_team("Genomics")
    imaging = root.api.create_team("Imaging")
    story.happened(
        *story.team_created(root, genomics, "Genomics"),
        *story.team_created(root, imaging, "Imaging"),
    )
    story.genomics, story.imaging = genomics, imaging

    # Ada registers; root activates her and makes her an admin.
    story.tick()
    ada.id = StrongroomClient(story.url, transport=Via(ada.ip)).register(
        ada.keys, ada.email, ada.name
    )
    story.happened(*story.registered(ada))
    story.tick()
    root.api.activate(ada.id)
    root.api.set_role(ada.id, "admin")
    story.happened(
        story.on_user(root, "User.Activated", ada), *story.role_changed(root, ada, "admin")
    )

    # Olive registers; root activates her and makes her a compliance officer.
    story.tick()
    olive.id = StrongroomClient(story.url, transport=Via(olive.ip)).register(
        olive.keys, olive.email, olive.name
    )
    story.happened(*story.registered(olive))
    story.tick()
    root.api.activate(olive.id)
    root.api.set_permissions(olive.id, grant=["audit"])
    story.happened(
        story.on_user(root, "User.Activated", olive),
        story.on_user(
            root,
            "User.PermissionsChanged",
            olive,
            permissions="download, view → audit, download, view",
            profile="-",
            profile_permissions="download, view",
            granted="audit",
            restricted="-",
        ),
    )

    # Sam registers; Ada logs in, activates him, makes him a sub-admin of Genomics.
    story.tick()
    sam.id = StrongroomClient(story.url, transport=Via(sam.ip)).register(
        sam.keys, sam.email, sam.name
    )
    story.happened(*story.registered(sam))
    story.tick()
    log_in(story, ada)
    story.tick()
    ada.api.activate(sam.id)
    ada.api.set_role(sam.id, "sub-admin")
    ada.api.assign_sub_admin(genomics, sam.id)
    story.happened(
        story.on_user(ada, "User.Activated", sam),
        *story.role_changed(ada, sam, "sub-admin"),
        *story.membership(ada, "sub-admin", genomics, sam),
    )

    # Rae registers from the VPN; Sam onboards her into Genomics.
    story.tick()
    rae.id = StrongroomClient(story.url, transport=Via(rae.ip)).register(
        rae.keys, rae.email, rae.name
    )
    story.happened(*story.registered(rae))
    story.tick()
    log_in(story, sam)
    story.tick()
    sam.api.add_member(genomics, rae.id)
    sam.api.activate(rae.id)
    story.happened(
        *story.membership(sam, "added", genomics, rae), story.on_user(sam, "User.Activated", rae)
    )
    # A sub-admin changes permissions, not roles: refused, and recorded.
    story.tick()
    forbidden(lambda: sam.api.set_role(rae.id, "sub-admin"))
    story.happened(
        story.refused(sam, "change-role", "sub-admins change permissions, not roles", rae.id)
    )

    # Rae logs in and tries what a user may not: make a team, read alerts, ask questions.
    story.tick()
    log_in(story, rae)
    story.tick()
    forbidden(lambda: rae.api.create_team("Rogue"))
    forbidden(lambda: rae.api.alerts())
    forbidden(lambda: rae.api.breach_scope(actor=sam.email))
    story.happened(
        story.refused(rae, "create-team", "a user cannot create-team"),
        story.refused(rae, "read-alerts", OFFICERS_ONLY),
        story.refused(rae, "ask-breach-scope", OFFICERS_ONLY),
    )

    # A team move: Root adds Rae to Imaging, Sam takes her out of Genomics.
    story.tick()
    root.api.add_member(imaging, rae.id)
    story.happened(*story.membership(root, "added", imaging, rae))
    story.tick()
    sam.api.remove_member(genomics, rae.id)
    story.happened(*story.membership(sam, "removed", genomics, rae))

    # Ada makes Rae a sub-admin: her session ends with the change.
    story.tick()
    ada.api.set_role(rae.id, "sub-admin")
    story.happened(*story.role_changed(ada, rae, "sub-admin"))
    ended_session = rae.session
    rae.session = None
    # Her old session is refused (401), and the refusal recorded.
    story.tick()
    with pytest.raises(ApiError) as dead:
        rae.api.me()
    assert dead.value.status == 401
    story.happened(
        replace(
            story.refused(rae, "authenticate", "the session has ended", rae.id),
            actor="anonymous",
            role="anonymous",
            session=None,
        )
    )
    assert ended_session is not None

    # Failed logins from two networks, three from outside over IPv4, two over IPv6: locked.
    for _ in range(3):
        story.tick()
        attempt_with(story, stranger, rae.email, ATTACKER)
        story.happened(*story.bad_signature(rae, ATTACKER))
    for n in range(2):
        story.tick()
        attempt_with(story, stranger, rae.email, ATTACKER_V6)
        story.happened(*story.bad_signature(rae, ATTACKER_V6, locks=n == 1))
    # From outside, someone tries an account that does not exist.
    story.tick()
    attempt_with(story, stranger, "nobody@enclave.edu", ATTACKER)
    story.happened(*story.login_refused(ATTACKER, "nobody@enclave.edu", "unknown account"))
    # Rae, with her own key, is refused: the account is locked.
    story.tick()
    attempt_with(story, rae.keys, rae.email, rae.ip)
    story.happened(*story.login_refused(rae.ip, rae.email, "the account is locked"))
    # At headquarters, Ada mistypes her key file once.
    story.tick()
    attempt_with(story, stranger, ada.email, ada.ip)
    story.happened(*story.bad_signature(ada, ada.ip))

    # Root unlocks Rae; Ada makes her a user again.
    story.tick()
    root.api.unlock(rae.id)
    story.happened(story.on_user(root, "User.Unlocked", rae))
    story.tick()
    ada.api.set_role(rae.id, "user")
    story.happened(*story.role_changed(ada, rae, "user"))
    # No session was used a minute after it began: none was touched.
    assert story.now - DAY < timedelta(minutes=1)


def tell_the_night(story: Story, sam: Person, eve: Person) -> None:
    genomics = story.genomics
    story.clock.advance(NIGHT - story.now)
    # 23:10 From outside, "Eve" registers; Sam's stolen key logs in from the same address.
    eve.id = StrongroomClient(story.url, transport=Via(eve.ip)).register(
        eve.keys, eve.email, eve.name
    )
    story.happened(*story.registered(eve))
    story.tick()
    log_in(story, sam, ATTACKER)
    # "Sam" onboards Eve into Genomics and gives her more than the defaults.
    story.tick()
    sam.api.add_member(genomics, eve.id)
    sam.api.activate(eve.id)
    sam.api.set_permissions(eve.id, grant=["tag-projects"])
    story.happened(
        *story.membership(sam, "added", genomics, eve),
        story.on_user(sam, "User.Activated", eve),
        story.on_user(
            sam,
            "User.PermissionsChanged",
            eve,
            permissions="download, view → download, tag-projects, view",
            profile="-",
            profile_permissions="download, view",
            granted="tag-projects",
            restricted="-",
        ),
    )
    # ...but may not make her a sub-admin.
    story.tick()
    forbidden(lambda: sam.api.set_role(eve.id, "sub-admin"))
    story.happened(
        story.refused(sam, "change-role", "sub-admins change permissions, not roles", eve.id)
    )
    # Eve logs in from the next address along.
    story.tick()
    log_in(story, eve, "198.51.100.24")


def ask_the_questions(
    story: Story,
    root: Person,
    ada: Person,
    olive: Person,
    sam: Person,
    rae: Person,
    eve: Person,
    settings: Settings,
    tmp_path: Path,
) -> None:
    genomics = story.genomics
    story.clock.advance(MORNING - story.now)
    log_in(story, olive)
    officer = olive.api

    def check(got: dict[str, Any], expected: dict[str, Any]) -> None:
        assert answer(got) == expected, first_difference(answer(got), expected)

    # -- breach scope: the stolen key's night, by actor, by session, by network --
    night = (NIGHT - timedelta(minutes=10), NIGHT + timedelta(minutes=50))
    sam_night = sam.session
    expected = expected_scope(story, lambda e: e.actor == sam.id and within(*night)(e))
    check(officer.breach_scope(actor=sam.email, start=iso(night[0]), end=iso(night[1])), expected)
    assert [u["email"] for u in expected["users"]] == [sam.email, eve.email]
    assert [t["name"] for t in expected["teams"]] == ["Genomics"]
    story.happened(
        story.asked(
            olive,
            "breach-scope",
            {"actor": sam.email, "from": iso(night[0]), "to": iso(night[1])},
            expected["events"],
            user=sam.id,
        )
    )
    expected = expected_scope(story, lambda e: e.session == sam_night)
    check(officer.breach_scope(session=sam_night), expected)
    story.happened(
        story.asked(olive, "breach-scope", {"session": str(sam_night)}, expected["events"])
    )
    for cidr in (OUTSIDE, OUTSIDE_V6, HQ):
        expected = expected_scope(story, in_range(cidr))
        check(officer.breach_scope(ip=cidr), expected)
        story.happened(story.asked(olive, "breach-scope", {"ip": cidr}, expected["events"]))
    # Actor and network together: what Sam's account did from outside, ever.
    expected = expected_scope(story, lambda e: e.actor == sam.id and in_range(OUTSIDE)(e))
    check(officer.breach_scope(actor=sam.id, ip=OUTSIDE), expected)
    story.happened(
        story.asked(
            olive, "breach-scope", {"actor": sam.id, "ip": OUTSIDE}, expected["events"], user=sam.id
        )
    )

    # -- lineage: Rae, the Genomics team, and a refusal --
    expected = expected_lineage(story, rae.id, "User", rae.email)
    check(officer.lineage(rae.id), expected)
    assert {r["relation"] for r in expected["rows"]} == {"of", "about"}
    story.happened(
        story.asked(
            olive,
            "lineage",
            {"aggregate_id": rae.id, "after": "0", "limit": "1000"},
            len(expected["rows"]),
            user=rae.id,
        )
    )
    day = (DAY, DAY + timedelta(minutes=1))
    expected = expected_lineage(story, genomics, "Team", "Genomics", within(*day))
    check(officer.lineage(genomics, start=iso(day[0]), end=iso(day[1])), expected)
    story.happened(
        story.asked(
            olive,
            "lineage",
            {
                "aggregate_id": genomics,
                "after": "0",
                "limit": "1000",
                "from": iso(day[0]),
                "to": iso(day[1]),
            },
            len(expected["rows"]),
            team=genomics,
        )
    )
    refusal = next(e for e in story.truth if e.type == "DeniedAttempt.Recorded")
    expected = expected_lineage(story, refusal.aggregate_id, "DeniedAttempt", None)
    check(officer.lineage(refusal.aggregate_id), expected)
    story.happened(
        story.asked(
            olive,
            "lineage",
            {"aggregate_id": refusal.aggregate_id, "after": "0", "limit": "1000"},
            1,
        )
    )
    # Paging: the first rows, and the rest after the last one seen.
    expected = expected_lineage(story, rae.id, "User", rae.email)
    first = officer.lineage(rae.id, limit=5)
    assert answer(first)["rows"] == expected["rows"][:5] and first["truncated"]
    story.happened(
        story.asked(
            olive, "lineage", {"aggregate_id": rae.id, "after": "0", "limit": "5"}, 5, user=rae.id
        )
    )
    seen = first["rows"][-1]["position"]
    rest = officer.lineage(rae.id, after=seen)
    expected = expected_lineage(story, rae.id, "User", rae.email)  # the question just asked too
    assert answer(rest)["rows"] == expected["rows"][5:] and not rest["truncated"]
    story.happened(
        story.asked(
            olive,
            "lineage",
            {"aggregate_id": rae.id, "after": str(seen), "limit": "1000"},
            len(expected["rows"]) - 5,
            user=rae.id,
        )
    )

    # -- timelines: Rae's day, and Sam's whole history (the questions about him included) --
    expected = expected_timeline(story, rae, within(*day))
    check(officer.timeline(rae.email, start=iso(day[0]), end=iso(day[1])), expected)
    assert {r["relation"] for r in expected["rows"]} == {"by", "to", "by, to"}
    story.happened(
        story.asked(
            olive,
            "timeline",
            {
                "user": rae.email,
                "after": "0",
                "limit": "1000",
                "from": iso(day[0]),
                "to": iso(day[1]),
            },
            len(expected["rows"]),
            user=rae.id,
        )
    )
    expected = expected_timeline(story, sam)
    check(officer.timeline(sam.id), expected)
    assert [r["event_type"] for r in expected["rows"]].count("ForensicQuestion.Asked") == 2
    story.happened(
        story.asked(
            olive,
            "timeline",
            {"user": sam.id, "after": "0", "limit": "1000"},
            len(expected["rows"]),
            user=sam.id,
        )
    )

    # -- who had: roles, memberships and permissions at moments of the day and night --
    def role_change(person: Person, nth: int) -> Event:
        return story.find("User.RoleChanged", person.id, nth)

    rae_promoted = role_change(rae, 0)
    questions: list[tuple[dict[str, str], list[dict[str, Any]], str | None]] = [
        # Just before Rae's promotion: Sam alone; at that very moment, Rae too.
        (
            {"role": "sub-admin", "at": iso(rae_promoted.at - timedelta(seconds=1))},
            [holder(story, sam, "sub-admin", role_change(sam, 0))],
            None,
        ),
        (
            {"role": "sub-admin", "at": iso(rae_promoted.at)},
            [
                holder(story, rae, "sub-admin", rae_promoted),
                holder(story, sam, "sub-admin", role_change(sam, 0)),
            ],
            None,
        ),
        # Demoted again before the night: a user since the change, not since registering.
        (
            {"role": "user", "at": iso(NIGHT - timedelta(seconds=1))},
            [
                holder(story, olive, "user", story.find("User.Registered", olive.id)),
                holder(story, rae, "user", role_change(rae, 1)),
            ],
            None,
        ),
        (
            {"role": "super-admin", "at": iso(NIGHT)},
            [holder(story, root, "super-admin", role_change(root, 0))],
            None,
        ),
        # Genomics at noon: Sam its sub-admin, Rae moved out; by morning, Eve a member.
        (
            {"team": "Genomics", "at": iso(DAY + timedelta(hours=3))},
            [holder(story, sam, "sub-admin", story.find("Team.SubAdminAssigned", genomics))],
            genomics,
        ),
        (
            {"team": genomics, "at": iso(story.find("Team.MemberAdded", genomics).at)},
            [
                holder(story, rae, "member", story.find("Team.MemberAdded", genomics)),
                holder(story, sam, "sub-admin", story.find("Team.SubAdminAssigned", genomics)),
            ],
            genomics,
        ),
        (
            {"team": "genomics", "at": iso(MORNING)},
            [
                holder(story, eve, "member", story.find("Team.MemberAdded", genomics, 1)),
                holder(story, sam, "sub-admin", story.find("Team.SubAdminAssigned", genomics)),
            ],
            genomics,
        ),
        (
            {"permission": "audit", "at": iso(MORNING)},
            [holder(story, olive, "audit", story.find("User.PermissionsChanged", olive.id))],
            None,
        ),
        (
            {"permission": "tag-projects", "at": iso(MORNING)},
            [holder(story, eve, "tag-projects", story.find("User.PermissionsChanged", eve.id))],
            None,
        ),
    ]
    for given, holders, team in questions:
        found = officer.who_had(**given)
        question = next(k for k in ("role", "team", "permission") if k in given)
        assert answer(found) == {
            "question": question,
            "value": team or given[question],
            "value_name": "Genomics" if team else None,
            "at": datetime.fromisoformat(given["at"]),
            "holders": holders,
            "truncated": False,
        }, given
        story.happened(story.asked(olive, "who-had", given, len(holders), team=team))

    # -- logins from each network --
    # (Olive's own login this morning is at the end of [DAY, MORNING): not in it.)
    for cidr, start, end in [
        (OUTSIDE, None, None),
        (OUTSIDE_V6, None, None),
        (VPN, day[0], day[1]),
        (HQ, DAY, MORNING),
    ]:
        expected = expected_logins(story, cidr, within(start, end))
        window = {"from": iso(start), "to": iso(end)} if start and end else {}
        check(officer.logins_from(cidr, start=window.get("from"), end=window.get("to")), expected)
        parameters = {"cidr": cidr} | window
        story.happened(story.asked(olive, "logins", parameters, len(expected["logins"])))
    outside = expected_logins(story, OUTSIDE)
    assert [(r["email"], r["outcome"], r["reason"]) for r in outside["logins"]] == [
        (rae.email, "denied", "bad signature"),
        (rae.email, "denied", "bad signature"),
        (rae.email, "denied", "bad signature"),
        ("nobody@enclave.edu", "denied", "unknown account"),
        (sam.email, "allowed", None),
        (eve.email, "allowed", None),
    ]

    # -- bad parameters: 422 naming the field, and nothing recorded --
    for call, field_name in [
        (lambda: officer.breach_scope(ip="198.51.100.23/24"), "ip"),
        (lambda: officer.breach_scope(ip="not-a-network"), "ip"),
        (lambda: officer.breach_scope(actor="nobody@enclave.edu"), "actor"),
        (lambda: officer.breach_scope(actor=sam.email, start="2026-03-02T09:00:00"), "from"),
        (lambda: officer.breach_scope(actor=sam.email, start=iso(NIGHT), end=iso(DAY)), "to"),
        (lambda: officer.breach_scope(), "actor"),
        (lambda: officer.lineage("not-an-id"), "aggregate_id"),
        (lambda: officer.timeline("nobody@enclave.edu"), "user"),
        (lambda: officer.who_had(role="emperor"), "role"),
        (lambda: officer.who_had(role="user", permission="audit"), "role"),
        (lambda: officer.who_had(team="Astronomy"), "team"),
        (lambda: officer.who_had(permission="audit", at="tomorrow"), "at"),
        (lambda: officer.logins_from("10.0.0.0/33"), "cidr"),
    ]:
        with pytest.raises(ApiError) as refused:
            call()
        assert refused.value.status == 422
        assert [d["field"] for d in refused.value.detail] == [field_name]
    story.quiet()
    # Nothing at all about an id: 404 (the question is still on the record).
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ApiError) as missing:
        officer.lineage(unknown)
    assert missing.value.status == 404
    story.happened(
        story.asked(olive, "lineage", {"aggregate_id": unknown, "after": "0", "limit": "1000"}, 0)
    )

    # -- the same questions from the command line, as the officer --
    client_home = tmp_path / "officer"
    save_session(
        client_home,
        SavedSession(str(story.url), str(officer.token), olive.email, olive.id, olive.role),
    )
    env = env_for(settings) | {"STRONGROOM_HOME": str(client_home)}
    given = {"role": "sub-admin", "at": iso(rae_promoted.at)}
    by_sdk = officer.who_had(**given)
    story.happened(story.asked(olive, "who-had", given, 2))
    result = strongroom(
        "audit", "who-had", "--role", "sub-admin", "--at", given["at"], "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == by_sdk
    story.happened(cli_asked(story, olive, "who-had", given, 2))
    result = strongroom("audit", "logins", "--cidr", OUTSIDE, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Logins from {OUTSIDE}") and "2 allowed, 4 refused" in lines[0]
    assert lines[1].split("\t") == [
        "at",
        "email",
        "from",
        "outcome",
        "reason",
        "session",
        "position",
    ]
    assert [line.split("\t")[1:5] for line in lines[2:]] == [
        [r["email"], r["client_ip"], r["outcome"], r["reason"] or ""] for r in outside["logins"]
    ]
    story.happened(cli_asked(story, olive, "logins", {"cidr": OUTSIDE}, 6))
    result = strongroom("audit", "timeline", rae.email, "--from", iso(day[0]), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Timeline of {rae.email}")
    rows = [line.split("\t") for line in result.stdout.splitlines()[2:]]
    expected = expected_timeline(story, rae, within(day[0], None))
    assert [(int(r[0]), r[2], r[3], r[4]) for r in rows] == [
        (x["position"], x["event_type"], x["relation"], x["actor_email"] or x["actor_id"])
        for x in expected["rows"]
    ]
    story.happened(
        cli_asked(
            story,
            olive,
            "timeline",
            {"user": rae.email, "after": "0", "limit": "1000", "from": iso(day[0])},
            len(rows),
            user=rae.id,
        )
    )
    # A bad range never reaches the server: one line, exit 2, nothing recorded.
    result = strongroom("audit", "logins", "--cidr", "10.0.0.0/33", env=env)
    assert result.returncode == 2 and "--cidr" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    story.quiet()

    # -- a SIEM's API token with the `query` scope asks too, on the record as the token --
    issued = officer.create_api_token("siem", ["query"], days=30)
    machine = StrongroomClient(story.url, token=issued["secret"], transport=Via(olive.ip))
    assert machine.who_had(permission="audit") == officer.who_had(permission="audit")
    streaming = officer.create_api_token("stream only", ["stream"], days=30)
    with pytest.raises(ApiError) as refused:
        StrongroomClient(story.url, token=streaming["secret"]).who_had(permission="audit")
    assert refused.value.status == 403
    recorded: list[Any] = [
        story.app.mapper.to_domain_event(n)
        for n in story.app.recorder.select_notifications(start=story.head + 1, limit=100)
    ]
    asked = [
        (e.actor_id, e.session_id, e.question, e.rows)
        for e in recorded
        if type(e).__qualname__ == "ForensicQuestion.Asked"
    ]
    by_token = f"token:{issued['token_id']}"
    assert asked == [(olive.id, by_token, "who-had", 1), (olive.id, olive.session, "who-had", 1)]
    assert any(
        type(e).__qualname__ == "TokenUse.Used" and e.session_id == by_token for e in recorded
    )


def cli_asked(
    story: Story,
    olive: Person,
    question: str,
    parameters: Mapping[str, str],
    rows: int,
    **about: str,
) -> Expect:
    """A question asked from the command line: the same session, straight from loopback."""
    return replace(story.asked(olive, question, parameters, rows, **about), ip=PROXY, proxy=None)
