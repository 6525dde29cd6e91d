"""The canned questions' SQL over a real export of a real store (both stores).

A short history is made through the real use cases with a manual clock, one
minute per step, exported, and asked about in DuckDB. Each test pins one part
of what "exact" means: half-open windows, CIDR ranges (IPv4, IPv6, IPv4-mapped
addresses), the last change at or before a moment deciding who held what, and
since when; parameters bound, never spliced into the SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from audit_queries import forensic_db
from audit_queries import questions as q
from audit_queries.columns import SCHEMA, TARGET_COLUMNS
from audit_queries.export import ExportedFile, Manifest, export
from client.keys import UserKeys
from domain.access import Permission, Role
from domain.errors import Forbidden, InvalidInput
from domain.identity import Identity
from domain.sessions import AuthenticationFailed

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def minute(n: int) -> datetime:
    return START + timedelta(minutes=n)


@dataclass
class History:
    connection: duckdb.DuckDBPyConnection
    world: World
    genomics: str

    def id(self, label: str) -> str:
        return str(self.world.ids[label])

    def email(self, label: str) -> str:
        return self.world.email(label)


@pytest.fixture
def history(settings: Settings, tmp_path: Path) -> Iterator[History]:
    """Nine steps, one a minute, from 09:00; exported and opened in DuckDB."""
    clock = ManualClock(START)
    system = open_system(settings, clock=clock)
    app = system.app
    identity = Identity(app)
    try:
        world = World(app, tag="")  # 09:00 root, by the system
        clock.advance(timedelta(minutes=1))  # 09:01 Ada, an admin
        world.person("ada", Role.ADMIN)
        clock.advance(timedelta(minutes=1))  # 09:02 Bob joins Genomics
        world.person("bob", teams=("Genomics",))
        clock.advance(timedelta(minutes=1))  # 09:03 Bob becomes an officer
        with world.acting("root"):
            identity.set_permissions(world.ids["bob"], grant={Permission.AUDIT}, restrict=set())
        clock.advance(timedelta(minutes=1))  # 09:04 ...and cannot download (audit kept)
        with world.acting("root"):
            identity.set_permissions(
                world.ids["bob"], grant={Permission.AUDIT}, restrict={Permission.DOWNLOAD}
            )
        clock.advance(timedelta(minutes=1))  # 09:05 two logins, one IPv4-mapped
        world.login("bob", client_ip="10.20.0.7")
        world.login("bob", client_ip="::ffff:10.20.0.8")
        clock.advance(timedelta(minutes=1))  # 09:06 a bad signature from an IPv6 network
        with pytest.raises(AuthenticationFailed):
            world.login("bob", keys=UserKeys.generate(), client_ip="2001:db8:bad::9")
        clock.advance(timedelta(minutes=1))  # 09:07 Ada may not touch a super-admin
        with world.acting("ada"), pytest.raises(Forbidden):
            identity.change_role(world.ids["root"], Role.USER)
        clock.advance(timedelta(minutes=1))  # 09:08 Bob leaves his last team: defaults again
        with world.acting("root"):
            identity.remove_team_member(world.teams["Genomics"], world.ids["bob"])
        clock.advance(timedelta(minutes=1))  # 09:09 ...and is added back
        with world.acting("root"):
            identity.add_team_member(world.teams["Genomics"], world.ids["bob"])
        directory = tmp_path / "export"
        export(system.ledger, directory)
        connection = forensic_db.connect(directory)
        try:
            yield History(connection, world, str(world.teams["Genomics"]))
        finally:
            connection.close()
    finally:
        app.close()


def holders(found: q.Holders) -> list[tuple[str | None, str, datetime, str, str | None]]:
    return [(h.email, h.holding, h.since, h.event_type, h.granted_by_email) for h in found.holders]


# -- parameters ---------------------------------------------------------------------------


def test_times_need_an_offset_and_windows_are_half_open() -> None:
    assert q.parse_moment("at", "2026-03-01T10:00:00+01:00") == minute(0)
    assert q.parse_moment("at", "2026-03-01T09:00:00Z") == minute(0)
    # A "+" sent unencoded in a query string arrives as a space.
    assert q.parse_moment("at", "2026-03-01T10:00:00 01:00") == minute(0)
    for bad, reason in [
        ("2026-03-01T09:00:00", "offset"),
        ("2026-03-01", "offset"),
        ("yesterday", "ISO 8601"),
        ("9" * 65, "at most"),
        ("9999-12-31T23:00:00-05:00", "years"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            q.parse_moment("from", bad)
        assert refused.value.field == "from" and reason in refused.value.reason
    with pytest.raises(InvalidInput) as refused:
        q.parse_window("2026-03-01T09:05:00Z", "2026-03-01T09:05:00Z")
    assert refused.value.field == "to"
    assert q.parse_window(None, None) == q.Window()


def test_ranges_are_cidr_for_ipv4_and_ipv6() -> None:
    assert str(q.parse_network("ip", "10.20.0.0/16")) == "10.20.0.0/16"
    assert str(q.parse_network("ip", "2001:db8:bad::/48")) == "2001:db8:bad::/48"
    assert str(q.parse_network("ip", "10.20.0.7")) == "10.20.0.7/32"
    with pytest.raises(InvalidInput) as refused:
        q.parse_network("cidr", "10.20.0.7/16")
    assert refused.value.field == "cidr" and "did you mean 10.20.0.0/16" in refused.value.reason
    for bad in ["10.20.0.0/33", "nonsense", "", "10.20.0.0/16; DROP"]:
        with pytest.raises(InvalidInput):
            q.parse_network("cidr", bad)
    network = q.parse_network("ip", "10.20.0.0/16")
    assert q.in_network("10.20.255.1", network)
    assert q.in_network("::ffff:10.20.0.8", network)  # IPv4-mapped counts as IPv4
    assert not q.in_network("10.21.0.1", network)
    assert not q.in_network("anonymous", network)
    assert q.in_network("2001:db8:bad::9", q.parse_network("ip", "2001:db8:bad::/48"))
    assert not q.in_network("2001:db8:bad::9", q.parse_network("ip", "2001:db8:bae::/48"))


def test_people_and_teams_are_found_by_id_email_or_name_and_values_are_bound(
    history: History,
) -> None:
    c = history.connection
    bob = q.find_person(c, "actor", history.email("bob").upper())
    assert bob == q.Person(history.id("bob"), history.email("bob"), "Bob")
    assert q.find_person(c, "user", history.id("bob")) == bob
    assert q.find_team(c, "team", "genomics") == q.TeamRef(history.genomics, "Genomics")
    # Values are bound: a quote or SQL in them is only text that matches no one.
    for sneaky in ["x' OR '1'='1", "bob@example.edu' --", "nobody@example.edu"]:
        with pytest.raises(InvalidInput) as refused:
            q.find_person(c, "actor", sneaky)
        assert refused.value.field == "actor" and "no user" in refused.value.reason
    with pytest.raises(InvalidInput) as refused:
        q.find_team(c, "team", "Imaging' OR TRUE --")
    assert refused.value.field == "team"


# -- who had ------------------------------------------------------------------------------


def test_the_last_change_at_or_before_the_moment_decides(history: History) -> None:
    c = history.connection
    root, bob = history.email("root"), history.email("bob")
    audit = "User.PermissionsChanged"
    # Granted at 09:03: held from that very moment, not a microsecond before.
    before = minute(3) - timedelta(microseconds=1)
    assert holders(q.who_had_permission(c, "audit", before)) == []
    assert holders(q.who_had_permission(c, "audit", minute(3))) == [
        (bob, "audit", minute(3), audit, root)
    ]
    # A later change that keeps it (09:04: download restricted) gives nothing new.
    assert holders(q.who_had_permission(c, "audit", minute(7))) == [
        (bob, "audit", minute(3), audit, root)
    ]
    # Leaving one's last team resets to the defaults: no audit from 09:08.
    assert holders(q.who_had_permission(c, "audit", minute(8))) == []
    assert holders(q.who_had_permission(c, "audit")) == []
    # Download: everyone by default; Bob lost it at 09:04 and got it back at 09:08.
    ada = history.email("ada")
    registered = "User.Registered"
    assert holders(q.who_had_permission(c, "download", minute(5))) == [
        (ada, "download", minute(1), registered, None),
        (root, "download", minute(0), registered, None),
    ]
    assert holders(q.who_had_permission(c, "download", minute(8))) == [
        (ada, "download", minute(1), registered, None),
        (bob, "download", minute(8), "User.ReleasedFromLastTeam", root),
        (root, "download", minute(0), registered, None),
    ]


def test_roles_since_registration_or_the_change_that_gave_them(history: History) -> None:
    c = history.connection
    root, ada, bob = history.email("root"), history.email("ada"), history.email("bob")
    assert holders(q.who_had_role(c, "admin", minute(1))) == [
        (ada, "admin", minute(1), "User.RoleChanged", root)
    ]
    assert holders(q.who_had_role(c, "admin", minute(1) - timedelta(seconds=1))) == []
    assert holders(q.who_had_role(c, "user")) == [(bob, "user", minute(2), "User.Registered", None)]
    assert holders(q.who_had_role(c, "super-admin", minute(0))) == [
        (root, "super-admin", minute(0), "User.RoleChanged", None)
    ]
    assert q.who_had_role(c, "super-admin").holders[0].granted_by == "system:bootstrap"
    with pytest.raises(InvalidInput) as refused:
        q.who_had_role(c, "emperor")
    assert refused.value.field == "role"


def test_team_members_and_sub_admins_at_a_moment(history: History) -> None:
    c = history.connection
    root, bob = history.email("root"), history.email("bob")
    team = q.TeamRef(history.genomics, "Genomics")
    added = "Team.MemberAdded"
    assert holders(q.who_had_team(c, team, minute(7))) == [(bob, "member", minute(2), added, root)]
    assert holders(q.who_had_team(c, team, minute(8))) == []
    # Added back: a member since the second addition.
    assert holders(q.who_had_team(c, team)) == [(bob, "member", minute(9), added, root)]


# -- logins and breach scope --------------------------------------------------------------


def test_logins_from_a_range_include_refusals_and_mapped_addresses(history: History) -> None:
    c = history.connection
    bob = history.id("bob")
    v4 = q.logins_from(c, q.parse_network("cidr", "10.20.0.0/16"))
    assert v4.addresses == ["10.20.0.7", "::ffff:10.20.0.8"]
    assert [(x.email, x.client_ip, x.outcome, x.recorded_at) for x in v4.logins] == [
        (history.email("bob"), "10.20.0.7", "allowed", minute(5)),
        (history.email("bob"), "::ffff:10.20.0.8", "allowed", minute(5)),
    ]
    assert (v4.allowed, v4.denied) == (2, 0)
    v6 = q.logins_from(c, q.parse_network("cidr", "2001:db8:bad::/48"))
    assert [(x.user_id, x.client_ip, x.outcome, x.reason) for x in v6.logins] == [
        (bob, "2001:db8:bad::9", "denied", "bad signature")
    ]
    # The window is [from, to): the refusal at 09:06 is outside [09:05, 09:06).
    v6_range = q.parse_network("cidr", "2001:db8::/32")
    assert q.logins_from(c, v6_range, q.Window(minute(5), minute(6))).logins == []
    late = q.logins_from(c, v6_range, q.Window(minute(6), minute(7)))
    assert [x.client_ip for x in late.logins] == ["2001:db8:bad::9"]
    # All of IPv6 holds the IPv4-mapped address too (as IPv6), not the plain IPv4 one.
    every_v6 = q.logins_from(c, q.parse_network("cidr", "::/0"))
    assert every_v6.addresses == ["2001:db8:bad::9", "::ffff:10.20.0.8"]


def test_breach_scope_of_an_actor_in_a_window(history: History) -> None:
    c = history.connection
    ada = q.find_person(c, "actor", history.email("ada"))
    root_id = history.id("root")
    scope = q.breach_scope(c, actor=ada, window=q.Window(minute(2), minute(10)))
    # Ada's one act in the window was refused: it touched nothing.
    assert scope.events == 1
    assert scope.touched == [] and scope.users == [] and scope.teams == []
    assert scope.event_counts == [q.TypeCount("DeniedAttempt.Recorded", 1)]
    assert [
        (d.recorded_at, d.actor_email, d.action, d.target, d.target_name, d.client_ip)
        for d in scope.denied
    ] == [(minute(7), ada.email, "change-role", root_id, history.email("root"), "192.0.2.10")]
    assert "super-admin" in str(scope.denied[0].reason)
    assert [(s.session_id, s.count, s.client_ips) for s in scope.sessions] == [
        ("s-ada", 1, ["192.0.2.10"])
    ]


def test_breach_scope_of_a_network_names_everyone_touched(history: History) -> None:
    c = history.connection
    network = q.parse_network("ip", "10.20.0.0/16")
    addresses = q.addresses_in(c, network, q.Window())
    scope = q.breach_scope(c, addresses=addresses)
    bob, email = history.id("bob"), history.email("bob")
    # Two logins: each a challenge issued, a session started, the challenge used, and Bob's
    # record noting the session.
    assert scope.events == 8
    assert {a.client_ip: a.count for a in scope.addresses} == {
        "10.20.0.7": 4,
        "::ffff:10.20.0.8": 4,
    }
    assert [(u.user_id, u.email, u.name, u.count) for u in scope.users] == [(bob, email, "Bob", 4)]
    assert [(t.kind, t.id, t.name, t.count) for t in scope.touched] == [("user", bob, email, 4)]
    assert [(a.email, a.count) for a in scope.actors] == [(None, 2), (email, 6)]
    assert scope.actors[0].actor_id == "anonymous"
    assert len(scope.sessions) == 2 and all(s.count == 3 for s in scope.sessions)


def test_breach_scope_needs_something_to_scope() -> None:
    with pytest.raises(InvalidInput) as refused:
        q.breach_scope(duckdb.connect(), window=q.Window())
    assert refused.value.field == "actor"


def test_every_target_column_joins_the_scope_by_itself(tmp_path: Path) -> None:
    """A capability's new target column (here group_id) shows up with no change to the SQL."""
    row: dict[str, object] = dict.fromkeys(SCHEMA.names)
    row |= {
        "position": 1,
        "prev_position": 0,
        "recorded_at": minute(0),
        "event_type": "Group.KeyWrapped",
        "aggregate_type": "Group",
        "aggregate_id": "7f9a0f1e-0000-4000-8000-000000000001",
        "version": 1,
        "actor_id": "u-1",
        "actor_role": "user",
        "outcome": "allowed",
        "topic": "domain.groups:Group.KeyWrapped",
        "payload": json.dumps({"timestamp": {"_type_": "datetime_iso", "_data_": "x"}}),
        "chain_hash": "0" * 64,
    }
    for column in TARGET_COLUMNS:
        row[column] = f"00000000-0000-4000-8000-00000000000{TARGET_COLUMNS.index(column)}"
    path = tmp_path / "day=2026-03-01" / "events-1-1.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pylist([row], schema=SCHEMA), path)
    Manifest(
        position=1, events=1, files=[ExportedFile(str(path.relative_to(tmp_path)), 1, 1, 1)]
    ).save(tmp_path)
    connection = forensic_db.connect(tmp_path)
    try:
        scope = q.breach_scope(
            connection, addresses=None, session=None, actor=q.Person("u-1", "", "")
        )
    finally:
        connection.close()
    assert [t.kind for t in scope.touched] == [c.removesuffix("_id") for c in TARGET_COLUMNS]


# -- lineage and timeline -----------------------------------------------------------------


def test_lineage_of_a_team_is_its_own_events_and_those_naming_it(history: History) -> None:
    c = history.connection
    found = q.lineage(c, history.genomics)
    assert (found.subject_type, found.subject_name) == ("Team", "Genomics")
    assert [(r.event_type, r.relation, r.actor_email, r.summary) for r in found.rows] == [
        (
            "Team.Created",
            "of",
            history.email("root"),
            "name: Genomics; quota: storage_bytes=107374182400, vm_count=2, cpu_cores=8",
        ),
        ("TeamName.Claimed", "about", history.email("root"), "name: Genomics; team: Genomics"),
        ("Team.MemberAdded", "of", history.email("root"), f"user: {history.email('bob')}"),
        ("User.JoinedTeam", "about", history.email("root"), "team: Genomics"),
        ("Team.MemberRemoved", "of", history.email("root"), f"user: {history.email('bob')}"),
        ("User.ReleasedFromLastTeam", "about", history.email("root"), "team: Genomics"),
        ("Team.MemberAdded", "of", history.email("root"), f"user: {history.email('bob')}"),
        ("User.JoinedTeam", "about", history.email("root"), "team: Genomics"),
    ]
    assert [r.recorded_at for r in found.rows] == [minute(2)] * 4 + [minute(8)] * 2 + [
        minute(9)
    ] * 2
    # Paging and windows.
    assert [r.position for r in q.lineage(c, history.genomics, limit=3).rows] == [
        r.position for r in found.rows[:3]
    ]
    assert q.lineage(c, history.genomics, limit=3).truncated
    assert [
        r.position for r in q.lineage(c, history.genomics, after=found.rows[5].position).rows
    ] == [r.position for r in found.rows[6:]]
    assert [
        r.event_type
        for r in q.lineage(c, history.genomics, window=q.Window(minute(8), minute(9))).rows
    ] == ["Team.MemberRemoved", "User.ReleasedFromLastTeam"]


def test_a_timeline_is_what_someone_did_and_what_was_done_to_them(history: History) -> None:
    c = history.connection
    ada = q.find_person(c, "user", history.email("ada"))
    found = q.timeline(c, ada)
    assert [(r.event_type, r.relation, r.actor_email, r.outcome) for r in found.rows] == [
        ("User.Registered", "to", None, "allowed"),
        ("EmailIndex.Claimed", "to", None, "allowed"),
        ("User.RoleChanged", "to", history.email("root"), "allowed"),
        ("User.Activated", "to", history.email("root"), "allowed"),
        ("DeniedAttempt.Recorded", "by", ada.email, "denied"),
    ]
    assert found.rows[2].changes == {"role": "user → admin", "by_super_admin": "true"}
    bob = q.find_person(c, "user", history.email("bob"))
    logins = q.timeline(c, bob, window=q.Window(minute(5), minute(6)))
    assert [(r.event_type, r.relation) for r in logins.rows] == [
        ("Session.Started", "by, to"),
        ("Challenge.Used", "by"),
        ("User.SessionStarted", "by, to"),
    ] * 2
    # A session's id is its canonical text on every event of the login.
    assert len({r.session_id for r in logins.rows[:3]}) == 1
