"""OCSF: every event type has its entry, and every record is valid OCSF 1.1.0.

Records are checked against OCSF's own JSON Schema for their class, offline:
ocsf_golden/ocsf-1.1.0.json is a snapshot of the OCSF 1.1.0 schema (Apache-2.0,
ocsf_golden/LICENSE; rebuilt by ocsf_golden/regenerate.py) holding, for each
class we emit, its JSON Schema (required attributes, types, enums, no
attributes outside the class) and OCSF's captions for its enums.

The story: the demo organisation, then everything else that records an event
(logins, session use, logout, refusals of every kind, officers' reads, the rate
limit, alerts worked by an officer, API tokens, an export), through the real
use cases on a real store; exported with the real exporter; read through the
forensic views in DuckDB.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from hashlib import sha256
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import duckdb
import jsonschema_rs
import pyarrow.parquet as pq
import pytest
from eventsourcing.domain import CanInitAggregate, DecoratedFuncCaller

import domain
from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.demo import ADMIN_EMAIL, DOMAIN, load_people
from api.world import World, visitor
from audit_queries import forensic_db, ocsf
from audit_queries.export import export
from client.keys import UserKeys
from domain.access import Role
from domain.aggregate import AuditedAggregate
from domain.alerts import SEVERITIES, Alert, Alerts
from domain.envelope import AuditContext, acting_as
from domain.errors import Forbidden
from domain.exports import ExportRead, ForensicExport
from domain.forensic_queries import QueryRun
from domain.forensic_questions import ForensicQuestion
from domain.history_reads import HistoryRead
from domain.identity import Registration
from domain.installation import Setup
from domain.logins import Logins
from domain.machine_access import MachineAccess
from domain.reports import ComplianceReport
from domain.saved_queries import SavedQuery
from domain.sessions import AuthenticationFailed
from domain.throttling import Fold, Throttling
from domain.tokens import TokenRefused
from tests.audit_queries.test_compliance_forensics import record_compliance
from tests.conftest import store_params
from tests.stores import store_settings

GOLDEN = Path(__file__).parent / "ocsf_golden"
SNAPSHOT: dict[str, Any] = json.loads((GOLDEN / f"ocsf-{ocsf.OCSF_VERSION}.json").read_text())
DOCS = Path(__file__).parents[2] / "docs" / "forensics.md"


@cache
def validator(class_key: str) -> Any:
    entry = SNAPSHOT["classes"][class_key]
    return jsonschema_rs.validator_for({**entry["schema"], "$defs": SNAPSHOT["objects"]})


def problems(record: dict[str, Any]) -> list[str]:
    """Why `record` is not a valid OCSF 1.1.0 record of its class (nothing when it is)."""
    ocsf_class = next((c for c in ocsf.CLASSES if c.uid == record.get("class_uid")), None)
    if ocsf_class is None:
        return [f"no class {record.get('class_uid')}"]
    found = [
        f"{e.instance_path}: {e.message}" for e in validator(ocsf_class.key).iter_errors(record)
    ]
    # OCSF defines type_uid as class_uid * 100 + activity_id (base_event.json).
    if record.get("type_uid") != record.get("class_uid", 0) * 100 + record.get("activity_id", 0):
        found.append(f"type_uid {record.get('type_uid')} is not class_uid * 100 + activity_id")
    # The profiles a record uses must be declared (OCSF: metadata.profiles).
    declared = record.get("metadata", {}).get("profiles", [])
    if declared != SNAPSHOT["classes"][ocsf_class.key]["profiles"]:
        found.append(f"metadata.profiles {declared} is not the snapshot's")
    return found


# -- the table ------------------------------------------------------------------------------


def domain_event_types() -> set[str]:
    """Every event type the domain can record: each aggregate's @event classes."""
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    found: set[str] = set()
    stack = list(AuditedAggregate.__subclasses__())
    while stack:
        aggregate = stack.pop()
        stack.extend(aggregate.__subclasses__())
        if not aggregate.__module__.startswith("domain."):
            continue  # tests' own aggregates
        nested = [v for v in vars(aggregate).values() if inspect.isclass(v)]
        created = [c for c in nested if issubclass(c, CanInitAggregate)]
        if len(created) > 1:
            # `Created` is the library's default, unused when __init__ names its
            # own event (User's is `Registered`).
            created = [c for c in created if c.__name__ != "Created"]
        for event_class in nested:
            if issubclass(event_class, DecoratedFuncCaller) or event_class in created:
                found.add(f"{aggregate.__name__}.{event_class.__name__}")
    return found


def test_the_domain_has_the_event_types_we_know_of() -> None:
    # The walk finds real events: a sample of each kind it must see.
    found = domain_event_types()
    assert {
        "User.Registered",
        "User.RoleChanged",
        "Team.Created",
        "DeniedAttempt.Recorded",
    } <= found
    assert "User.Created" not in found and "User.Event" not in found


def test_every_event_type_in_the_domain_has_an_ocsf_entry() -> None:
    missing = domain_event_types() - ocsf.covered_event_types()
    assert not missing, (
        f"map these in audit_queries/ocsf.py (a Rule, or Excluded and why): {sorted(missing)}"
    )
    # And no entry is for an event type that does not exist (a typo maps nothing).
    assert ocsf.covered_event_types() <= domain_event_types()


def test_the_table_names_classes_activities_and_statuses_as_ocsf_does() -> None:
    for ocsf_class in ocsf.CLASSES:
        entry = SNAPSHOT["classes"][ocsf_class.key]
        assert (ocsf_class.uid, ocsf_class.name) == (entry["uid"], entry["caption"])
        assert (ocsf_class.category_uid, ocsf_class.category_name) == (
            entry["category_uid"],
            entry["category_caption"],
        )
        # Every object the class carries is one of its attributes in the schema.
        assert ocsf_class.objects <= set(entry["schema"]["properties"]), ocsf_class.key
        assert set(ocsf.columns_of(ocsf_class)) <= set(entry["schema"]["properties"])
    for rule in ocsf.RULES:
        entry = SNAPSHOT["classes"][rule.ocsf.key]
        for activity in rule.activities():
            caption = entry["activity_id"].get(str(activity.id))
            assert caption is not None, f"{rule.event_type}: no activity {activity.id}"
            if activity.id != 99:  # Other: the name is ours, saying what happened
                assert activity.name == caption, rule.event_type
        if rule.status is not None:
            assert entry["status_id"][str(rule.status.id)] == rule.status.name, rule.event_type
        if isinstance(rule.severity, ocsf.Severity):
            assert entry["severity_id"][str(int(rule.severity))] == rule.severity.caption
    for severity in ocsf.Severity:
        assert SNAPSHOT["classes"]["base_event"]["severity_id"][str(int(severity))] == (
            severity.caption
        )


def test_every_role_and_every_alert_severity_has_its_place() -> None:
    assert set(ocsf.ROLE_RANK) == {str(role) for role in Role}
    assert set(ocsf.ALERT_SEVERITIES) == set(SEVERITIES)


def test_the_validator_refuses_what_ocsf_refuses() -> None:
    # A minimal Authentication record, valid; then each way of breaking it is caught.
    valid: dict[str, Any] = {
        "class_uid": 3002,
        "category_uid": 3,
        "activity_id": 1,
        "type_uid": 300201,
        "time": 1_795_815_910_024,
        "severity_id": 1,
        "metadata": {
            "product": {"name": "Strongroom", "vendor_name": "Strongroom"},
            "version": "1.1.0",
            "profiles": [],
        },
        "user": {"name": "ada@example.edu"},
        "service": {"name": "Strongroom"},
    }
    assert problems(valid) == []
    broken = [
        {k: v for k, v in valid.items() if k != "user"},  # a required attribute missing
        {**valid, "activity_id": 7},  # not an Authentication activity
        {**valid, "type_uid": 300209},  # not a type of the class
        {**valid, "type_uid": 300202},  # a type of the class, but not class * 100 + activity
        {**valid, "privileges": ["admin"]},  # not an Authentication attribute
        {**valid, "user": {"email_addr": "not an email", "name": "x"}},
        {**valid, "time": "2026-11-27"},  # a timestamp is epoch milliseconds
        {k: v for k, v in valid.items() if k != "service"},  # service or dst_endpoint
    ]
    for record in broken:
        assert problems(record), record


def test_the_docs_show_the_mapping_table() -> None:
    assert ocsf.mapping_table_markdown() in DOCS.read_text()


# -- the story, on a real store ------------------------------------------------------------------

ROOT_EMAIL = ADMIN_EMAIL
OFFICE = "10.20.0.5"
ATTACKER = "198.51.100.23"
TOKEN_SECRET = b"a SIEM's token secret"


@dataclass
class Story:
    system: System
    org: World
    export_dir: Path
    alert_ids: list[UUID]


def tell(system: System, clock: ManualClock, export_dir: Path) -> Story:
    """Everything that records an event, once at least; then exported."""
    app = system.app
    # The installation and its first super-admin, as `strongroom init` records them.
    root_keys = UserKeys.generate()
    with acting_as(AuditContext.system("bootstrap")):
        Setup(app).initialise(
            audit_key_id="k1",
            audit_public_key="pem",
            store_kind=system.settings.store.kind,
            first_super_admin=Registration(**root_keys.registration(ROOT_EMAIL, "Root")),
        )
    org = World(app, tag="", domain=DOMAIN, root_email=ROOT_EMAIL, client_ip=OFFICE)
    org.keys["root"] = root_keys
    # The demo: teams, profiles, people, a lockout, a refused role change.
    load_people(org)
    identity, logins = org.identity, Logins(app)

    # A login, the session in use a few minutes later, and logout.
    token_hash = sha256(b"rae's session token").hexdigest()
    org.login("rae.researcher", client_ip=OFFICE, token_hash=token_hash)
    clock.advance(timedelta(minutes=3))
    with acting_as(visitor(OFFICE)):
        logins.authenticate(token_hash)
        logins.logout(token_hash)
    # Refused: a login to an account that does not exist, and an unknown session.
    with contextlib.suppress(AuthenticationFailed):
        org.login("ghost", email=f"ghost@{DOMAIN}", keys=UserKeys.generate(), client_ip=ATTACKER)
    with acting_as(visitor(ATTACKER)), contextlib.suppress(AuthenticationFailed):
        logins.authenticate("0" * 64)

    # Administration over IPv6, through a proxy: a deactivation and a demotion.
    root_id = org.ids["root"]
    via_proxy = AuditContext(
        str(root_id), "super-admin", "s-root", uuid4().hex, "2001:db8::7", proxy_ip="10.0.0.1"
    )
    with acting_as(via_proxy):
        identity.deactivate_user(org.ids["li.wei"], reason="left the university")
        identity.change_role(org.ids["it.admin"], Role.USER)
        identity.unlock_user(org.ids["mallory"])
    with org.acting("root"):
        # A member of two teams leaves one; a member of one leaves her last.
        identity.add_team_member(org.teams["Genomics Core"], org.ids["officer"])
        identity.remove_team_member(org.teams["Genomics Core"], org.ids["officer"])
        identity.remove_team_member(org.teams["Genomics Core"], org.ids["ana.seq"])
    # The officer reads the directory.
    with org.acting("officer"):
        identity.view_user(org.ids["rae.researcher"])
    # The rate limit folds a burst from the attacker's address.
    Throttling(app).record_fold(
        Fold(
            source=ATTACKER,
            client_ip=ATTACKER,
            window_seconds=60.0,
            first_at=clock.now(),
            last_at=clock.now() + timedelta(seconds=40),
            refused=12,
            by_limit={"anonymous": 12},
            paths={"/api/v1/auth/login": 9, "/api/v1/auth/challenge": 3},
        )
    )

    # The alert rules run; the officer acknowledges one alert and resolves another.
    system.projections.catch_up_all()
    alert_ids = raised_alerts(app)
    worked = 0
    for alert_id in alert_ids:
        with org.acting("officer"), contextlib.suppress(Forbidden):
            if worked == 0:
                Alerts(app).acknowledge(alert_id, note="looking into it")
            else:
                Alerts(app).resolve(alert_id, note="expected")
            worked += 1
        if worked == 2:
            break

    # An API token for a SIEM: used, used outside its scope, revoked, used again.
    secret_hash = sha256(TOKEN_SECRET).hexdigest()
    machine = MachineAccess(app)
    with org.acting("officer"):
        token = machine.create_token(
            name="SIEM", scopes=["query"], token_hash=secret_hash, expires_in_days=30
        )
    with acting_as(visitor("192.0.2.50")):
        machine.authenticate_token(secret_hash, "query", "/api/v1/audit/query")
        with contextlib.suppress(Forbidden):
            machine.authenticate_token(secret_hash, "export", "/api/v1/audit/export")
    with org.acting("officer"):
        machine.revoke_token(token.token_id, "rotated")
    with acting_as(visitor("192.0.2.50")), contextlib.suppress(TokenRefused):
        machine.authenticate_token(secret_hash, "query", "/api/v1/audit/query")

    # Officers question the history: each kind of record those capabilities save.
    officer = str(org.ids["officer"])
    definition: dict[str, Any] = {
        "sql": "SELECT * FROM logins",
        "description": "every login",
        "tags": ["logins"],
        "parameters": [],
        "return_type": "table",
    }
    with org.acting("officer"):
        saved = SavedQuery("all-logins", by=officer, **definition)
        app.save(saved)
        saved.update(**{**definition, "description": "every login, newest last"}, by=officer)
        saved.retire(by=officer)
        saved.restore(**definition, by=officer)
        app.save(saved)
        for outcome, reason in (("answered", None), ("refused", "only SELECT may run here")):
            app.save(
                QueryRun(
                    sql="SELECT count(*) FROM events",
                    saved_query=None,
                    revision=None,
                    parameters={},
                    row_limit=100,
                    time_limit=5.0,
                    outcome=outcome,
                    row_count=1 if reason is None else 0,
                    truncated=False,
                    reason=reason,
                    exported_upto=10,
                )
            )
        app.save(
            ForensicQuestion(
                question="breach-scope",
                parameters={"actor": email_of(org, "mallory")},
                rows=7,
                user_id=org.ids["mallory"],
                team_id=None,
            )
        )
        app.save(
            HistoryRead("aggregate", str(org.ids["li.wei"]), "12", position=12, shown_version=3)
        )
        app.save(ExportRead(path="_manifest.json", position=12, size=3))
        app.save(
            ComplianceReport(
                kind="monthly",
                name="2026-03",
                format="html",
                position=10,
                chain_hash="ab" * 32,
                period_start=clock.now() - timedelta(days=1),
                period_end=clock.now(),
                queries=[],
                parameters={},
                rows=40,
            )
        )

    # Compliance: requirements, levels, certifications (one expires), projects, tags.
    record_compliance(org, clock)

    run = export(system.ledger, export_dir)
    # The copy is itself recorded, as `strongroom audit export` does; exported too.
    with acting_as(AuditContext("system:export", "system", None, uuid4().hex, None)):
        app.save(
            ForensicExport(
                destination=str(export_dir),
                format="parquet",
                from_position=0,
                to_position=run.manifest.position,
                events=run.added,
            )
        )
    export(system.ledger, export_dir)
    return Story(system, org, export_dir, alert_ids)


def email_of(org: World, label: str) -> str:
    return org.email(label)


def raised_alerts(app: Any) -> list[UUID]:
    return [
        n.originator_id
        for n in app.recorder.select_notifications(start=1, limit=100_000)
        if n.topic.endswith(":Alert.Raised")
    ]


@pytest.fixture
def story(settings: Settings, clock: ManualClock, tmp_path: Path) -> Iterator[Story]:
    """The story on a store of its own, for a test that adds to it."""
    system = open_system(settings, clock=clock)
    try:
        yield tell(system, clock, tmp_path / "export")
    finally:
        system.close()


@pytest.fixture(scope="module", params=store_params())
def shared_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Story]:
    """The story told once per store for the tests that only read it (the name files
    them in the store ring: tests/conftest.py)."""
    home = tmp_path_factory.mktemp(str(request.param))
    with store_settings(str(request.param), home / "home") as settings:
        clock = ManualClock.at_epoch()
        system = open_system(settings, clock=clock)
        try:
            yield tell(system, clock, home / "export")
        finally:
            system.close()


@contextlib.contextmanager
def forensic(export_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The officers' read-only connection over the export, with the `ocsf` view."""
    connection = forensic_db.connect(export_dir, for_sql="ocsf")
    try:
        yield connection
    finally:
        connection.close()


def view_rows(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        connection.sql("SELECT * FROM ocsf ORDER BY position").to_arrow_table().to_pylist()
    )
    return rows


def by_code(rows: list[dict[str, Any]], event_code: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["metadata"]["event_code"] == event_code]


def test_every_record_of_the_story_is_valid_ocsf(shared_app: Story) -> None:
    story = shared_app
    with forensic(story.export_dir) as connection:
        rows = view_rows(connection)
        event_types = dict(
            connection.execute(
                "SELECT event_type, count(*) FROM events GROUP BY event_type"
            ).fetchall()
        )
    # Every record validates against its class's OCSF schema.
    invalid = {(r["position"], r["metadata"]["event_code"]): problems(ocsf.record(r)) for r in rows}
    assert {k: v for k, v in invalid.items() if v} == {}
    # One record per event, except the event types left out on purpose; none
    # fell through to Base Event.
    expected = sum(n for t, n in event_types.items() if t not in ocsf.EXCLUDED)
    assert len(rows) == expected
    assert len({r["position"] for r in rows}) == len(rows)
    assert not [r for r in rows if r["class_uid"] == ocsf.BASE_EVENT.uid]
    # The story exercised every rule of the table, each branch of the refusals too.
    emitted = {(r["metadata"]["event_code"], r["class_uid"], r["activity_name"]) for r in rows}
    assert {rule.event_type for rule in ocsf.RULES} <= {code for code, _, _ in emitted}
    refusals = {(c, n) for code, c, n in emitted if code == "DeniedAttempt.Recorded"}
    assert {(3002, "Logon"), (3002, "Session Authentication")} <= refusals
    assert {c for c, _ in refusals} == {3002, 6003}


def test_the_records_say_who_did_what_from_where(shared_app: Story) -> None:
    story = shared_app
    org = story.org
    with forensic(story.export_dir) as connection:
        rows = view_rows(connection)
    email = org.email

    # Mallory's five bad signatures from the attacker's address, then the lockout.
    failures = by_code(rows, "User.LoginFailed")
    assert len(failures) == 5
    for failure in failures:
        assert (failure["class_uid"], failure["activity_id"], failure["type_uid"]) == (
            3002,
            1,
            300201,
        )
        assert (failure["status"], failure["status_id"], failure["severity_id"]) == (
            "Failure",
            2,
            2,
        )
        assert failure["user"]["uid"] == str(org.ids["mallory"])
        assert failure["user"]["email_addr"] == email("mallory")
        assert failure["src_endpoint"]["ip"] == ATTACKER
        assert failure["status_detail"] == "bad signature"
    (lock,) = by_code(rows, "User.Locked")
    assert (lock["class_name"], lock["activity_name"], lock["severity"]) == (
        "Account Change",
        "Lock",
        "Medium",
    )

    # A refused login to an unknown account names the email that was typed.
    (ghost,) = [
        r
        for r in by_code(rows, "DeniedAttempt.Recorded")
        if r["class_uid"] == 3002 and r["activity_id"] == 1
    ]
    assert ghost["user"] == {
        "uid": None,
        "name": f"ghost@{DOMAIN}",
        "full_name": None,
        "email_addr": f"ghost@{DOMAIN}",
    }
    assert ghost["status_detail"] == "unknown account"

    # The sub-admin's refused role change: API Activity, by whom (email), on whom.
    (refused,) = [
        r
        for r in by_code(rows, "DeniedAttempt.Recorded")
        if r["api"] and r["api"]["operation"] == "change-role"
    ]
    assert (refused["class_uid"], refused["activity_name"], refused["status"]) == (
        6003,
        "Update",
        "Failure",
    )
    assert refused["actor"]["user"]["email_addr"] == email("dac.lead")
    assert refused["actor"]["user"]["type"] == "Admin"
    assert refused["resources"] == [
        {"uid": str(org.ids["rae.researcher"]), "name": None, "type": "user"}
    ]

    # A login and its session: Logon with the session, then Logoff.
    (logon,) = by_code(rows, "Session.Started")
    (logoff,) = by_code(rows, "Session.Ended")
    (touched,) = by_code(rows, "Session.Touched")
    for record in (logon, logoff, touched):
        assert record["user"]["email_addr"] == email("rae.researcher")
        assert record["user"]["full_name"] == "Rae Okafor"
        assert record["session"]["uid"] == logon["session"]["uid"]
    assert (logon["activity_name"], logoff["activity_name"]) == ("Logon", "Logoff")
    assert logon["session"]["expiration_time"] - logon["session"]["created_time"] == 12 * 3600_000
    assert logoff["status_detail"] == "logout"

    # Over IPv6 through a proxy: the address, and the proxy as an intermediate.
    promoted, demoted = [
        r for r in by_code(rows, "User.RoleChanged") if r["user"]["uid"] == str(org.ids["it.admin"])
    ]
    assert (promoted["activity_name"], promoted["privileges"]) == ("Assign Privileges", ["admin"])
    assert (demoted["class_uid"], demoted["activity_name"], demoted["privileges"]) == (
        3005,
        "Revoke Privileges",
        ["admin"],
    )
    assert demoted["unmapped"]["client_ip"] == "2001:db8::7"
    assert demoted["metadata"]["profiles"] == ["host"]
    (deactivated,) = by_code(rows, "User.Deactivated")
    assert deactivated["src_endpoint"] == {
        "ip": "2001:db8::7",
        "name": None,
        "intermediate_ips": ["10.0.0.1"],
    }
    assert deactivated["status_detail"] == "left the university"

    # The officer's audit grant is a privilege assigned.
    (granted,) = [
        r
        for r in by_code(rows, "User.PermissionsChanged")
        if r["user"]["uid"] == str(org.ids["officer"])
    ]
    assert (granted["activity_name"], granted["privileges"]) == ("Assign Privileges", ["audit"])

    # Team membership: Group Management with the team by name.
    added = [r for r in by_code(rows, "Team.MemberAdded") if r["group"]["name"] == "DAC"]
    assert {r["user"]["email_addr"] for r in added} >= {email("officer"), email("li.wei")}
    (released,) = by_code(rows, "User.ReleasedFromLastTeam")
    assert (released["activity_name"], released["user"]["email_addr"]) == (
        "Disable",
        email("ana.seq"),
    )

    # The rate limit's fold: how many, when, on which paths.
    (throttled,) = by_code(rows, "ThrottledRequests.Counted")
    assert (throttled["count"], throttled["end_time"] - throttled["start_time"]) == (12, 40_000)
    assert {r["name"] for r in throttled["resources"]} == {
        "/api/v1/auth/login",
        "/api/v1/auth/challenge",
    }
    assert throttled["src_endpoint"]["ip"] == ATTACKER

    # Alerts are findings with their own severity, and their status as they are worked.
    raised = by_code(rows, "Alert.Raised")
    assert len(raised) == len(story.alert_ids)
    lockout = next(r for r in raised if r["finding_info"]["types"] == ["user_locked"])
    assert (lockout["severity_id"], lockout["severity"]) == (4, "High")
    for record in raised:
        assert record["severity_id"] == ocsf.ALERT_SEVERITIES[alert_severity(story, record)]
    (acknowledged,) = by_code(rows, "Alert.Acknowledged")
    (resolved,) = by_code(rows, "Alert.Resolved")
    assert (acknowledged["status"], resolved["status"]) == ("In Progress", "Resolved")
    assert (acknowledged["activity_name"], resolved["activity_name"]) == ("Update", "Close")
    assert acknowledged["status_detail"] == "looking into it"
    first = next(
        r for r in raised if r["finding_info"]["uid"] == acknowledged["finding_info"]["uid"]
    )
    assert acknowledged["severity_id"] == first["severity_id"]
    assert acknowledged["finding_info"]["title"] == first["finding_info"]["title"]

    # Machine access: the token's creation, its use, its refusal after revocation.
    (created,) = by_code(rows, "AccessToken.Created")
    assert created["user"]["email_addr"] == email("officer")
    (used,) = by_code(rows, "TokenUse.Used")
    assert (used["class_uid"], used["activity_name"], used["api"]["operation"]) == (
        6003,
        "Read",
        "/api/v1/audit/query",
    )
    assert used["actor"]["session"]["uid"].startswith("token:")

    # Every record points back to its event: the position, and the event itself.
    for record in rows:
        assert record["metadata"]["uid"] == str(record["position"])
        assert record["metadata"]["sequence"] == record["position"]
        assert record["type_uid"] == record["class_uid"] * 100 + record["activity_id"]
        assert json.loads(record["raw_data"])["request_id"] == record["metadata"]["correlation_uid"]


def alert_severity(story: Story, record: dict[str, Any]) -> str:
    alert: object = story.system.app.repository.get(UUID(record["finding_info"]["uid"]))
    assert isinstance(alert, Alert)
    return str(alert.severity)


def read_written(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record in the OCSF files under `out_dir`, by class directory."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out_dir.glob("*/ocsf-*")):
        if path.suffix == ".parquet":
            records = [ocsf.record(row) for row in pq.read_table(path).to_pylist()]
        else:
            records = [json.loads(line) for line in path.read_text().splitlines()]
        found.setdefault(path.parent.name, []).extend(records)
    return found


def test_the_files_hold_one_valid_class_each_and_grow_by_what_is_new(
    story: Story, clock: ManualClock, tmp_path: Path
) -> None:
    with forensic(story.export_dir) as connection:
        rows = view_rows(connection)
        for fmt in ocsf.FORMATS:
            assert ocsf.write_ocsf(connection, tmp_path / fmt, fmt) == len(rows)
    for fmt in ocsf.FORMATS:
        files = read_written(tmp_path / fmt)
        # One class per file (Security Lake's rule), each record valid for it.
        for key, records in files.items():
            assert {r["class_uid"] for r in records} == {
                next(c.uid for c in ocsf.CLASSES if c.key == key)
            }
            assert [p for r in records for p in problems(r)] == []
        assert sorted(int(r["metadata"]["uid"]) for rs in files.values() for r in rs) == [
            r["position"] for r in rows
        ]
        assert ocsf.ocsf_position(tmp_path / fmt) >= rows[-1]["position"]
    # The two formats hold the same records.
    assert read_written(tmp_path / "parquet") == read_written(tmp_path / "jsonl")

    # Something new happens; the next run adds only that.
    head = rows[-1]["position"]
    clock.advance(timedelta(minutes=5))
    with story.org.acting("root"):
        story.org.identity.activate_user(story.org.ids["new.student"])
    export(story.system.ledger, story.export_dir)
    with forensic(story.export_dir) as connection:
        for fmt in ocsf.FORMATS:
            assert ocsf.write_ocsf(connection, tmp_path / fmt, fmt) == 1  # from where they end
        all_rows = view_rows(connection)
    for fmt in ocsf.FORMATS:
        again = read_written(tmp_path / fmt)
        assert sorted(int(r["metadata"]["uid"]) for rs in again.values() for r in rs) == [
            r["position"] for r in all_rows
        ]
        (activation,) = [r for r in again["account_change"] if int(r["metadata"]["uid"]) > head]
        assert activation["activity_name"] == "Enable"


def test_a_run_killed_part_way_is_redone_whole(
    shared_app: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = shared_app
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    with forensic(story.export_dir) as connection:
        ocsf.write_ocsf(connection, clean, "jsonl")
        # Read in slices of 40 positions instead of one: the same files.
        monkeypatch.setattr(ocsf, "CHUNK_POSITIONS", 40)
        assert ocsf.ocsf_position(clean) > 120  # so several slices
        ocsf.write_ocsf(connection, resumed, "jsonl")
        assert read_written(resumed) == read_written(clean)
        # As a run killed before its manifest: a temporary file, and a class file
        # renamed into place for positions the manifest does not cover.
        ahead = ocsf.ocsf_position(resumed) + 1
        (resumed / "authentication" / ".tmp-ocsf-x.jsonl").write_text("half a line")
        stray = resumed / "authentication" / f"ocsf-{ahead:020d}-{ahead + 5:020d}.jsonl"
        stray.write_text('{"class_uid": 3002}\n')
        assert ocsf.write_ocsf(connection, resumed, "jsonl", ocsf.ocsf_position(resumed)) == 0
    assert not stray.exists()
    assert not list(resumed.glob("*/.tmp-*"))
    assert read_written(resumed) == read_written(clean)
    # A rerun from the start rewrites the same files.
    with forensic(story.export_dir) as connection:
        ocsf.write_ocsf(connection, resumed, "jsonl", 0)
    assert read_written(resumed) == read_written(clean)


def test_what_cannot_be_written_is_refused_with_the_reason(
    shared_app: Story, tmp_path: Path
) -> None:
    story = shared_app
    out = tmp_path / "ocsf"
    with forensic(story.export_dir) as connection:
        ocsf.write_ocsf(connection, out, "parquet")
        with pytest.raises(ocsf.OcsfExportProblem, match="holds OCSF parquet files"):
            ocsf.write_ocsf(connection, out, "jsonl")
        with pytest.raises(ValueError, match="format: one of parquet, jsonl"):
            ocsf.write_ocsf(connection, tmp_path / "x", "csv")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="after_position: 0 or more"):
            ocsf.write_ocsf(connection, tmp_path / "y", "jsonl", -1)
        with pytest.raises(ocsf.OcsfExportProblem, match="continue from 0 or"):
            ocsf.write_ocsf(connection, out, "parquet", after_position=3)
