"""OCSF for the tools officers already run: the `ocsf` view, and files of it.

Amazon Security Lake, Splunk and most SIEMs read the Open Cybersecurity Schema
Framework. Every event type in the log maps here, once, to an OCSF 1.1.0 class
and activity (Security Lake's custom sources take OCSF 1.1); the `ocsf` view's
SQL is generated from this one table, so the mapping cannot drift from it.

    ocsf_view_sql()                    the SELECT behind the `ocsf` view, over the
                                       forensic views `events`, `people` and `teams`
    write_ocsf(connection, out_dir, "parquet" | "jsonl")
                                       its rows as files, one per OCSF class per run,
                                       each run adding what came after the last one

How an event is mapped:

- Each `Rule` names an event type (and, where one type means different things,
  a SQL condition), the class, the activity, the severity, and the SQL of the
  per-event parts (whose account, which team, which privileges, ...).
- Some event types are *left out* on purpose (`Excluded`, with the reason): a
  fact one command records on two aggregates (a team's `MemberAdded` and the
  user's `JoinedTeam`) is one OCSF event, not two, and uniqueness indexes
  (`EmailIndex.Claimed`) are bookkeeping. They stay in `events`.
- An event type with no entry at all (a capability that forgot one; the tests
  refuse that) is still emitted, as OCSF's Base Event (class 0), so nothing
  vanishes from a SIEM silently.

Each record carries exactly the attributes its class defines in OCSF 1.1.0
(classes whose `actor` comes from the `host` profile say so in
`metadata.profiles`); what OCSF has no place for — the envelope, the chain
hash, the aggregate — is in `unmapped`, and the stored event itself in
`raw_data`. `metadata.uid` and `metadata.sequence` are the log position.

A capability that lands adds its entries here, next to its extractions in
`audit_queries/columns.py`:

    register(Rule("File.Downloaded", FILE_ACTIVITY, Activity(2, "Read"), ...))
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from audit_queries.durable import fsync_directory, fsync_file, write_atomically
from audit_queries.export import ExportProblem

OCSF_VERSION = "1.1.0"
PRODUCT_NAME = "Strongroom"
VENDOR_NAME = "Strongroom"
try:
    PRODUCT_VERSION = version("strongroom")
except PackageNotFoundError:  # run from a checkout that was never installed
    PRODUCT_VERSION = "unknown"
LOG_NAME = "notification-log"
# The views the `ocsf` view reads (audit_queries/views.py).
REQUIRES = ("events", "people", "teams", "requirements", "projects")

Format = Literal["parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "jsonl")


class Severity(IntEnum):
    """OCSF `severity_id` (the same enum in every class)."""

    UNKNOWN = 0
    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def caption(self) -> str:
        return self.name.title()


# An alert carries its own severity; these are OCSF's names for ours (domain/alerts.py).
ALERT_SEVERITIES = {
    "info": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


@dataclass(frozen=True)
class Activity:
    """An OCSF `activity_id` and its caption; 99 ("Other") with our own name where OCSF
    1.1.0 has none for what happened."""

    id: int
    name: str


@dataclass(frozen=True)
class Status:
    id: int
    name: str


SUCCESS, FAILURE = Status(1, "Success"), Status(2, "Failure")
# Detection Finding's status is the finding's, not the event's (OCSF 1.1.0 finding.json).
FINDING_NEW, FINDING_IN_PROGRESS, FINDING_RESOLVED = (
    Status(1, "New"),
    Status(2, "In Progress"),
    Status(4, "Resolved"),
)


@dataclass(frozen=True)
class OcsfClass:
    uid: int
    name: str  # OCSF's caption, e.g. "Authentication"
    key: str  # OCSF's name, e.g. "authentication": the directory its files go to
    category_uid: int
    category_name: str
    # Which of the view's object columns this class defines in OCSF 1.1.0.
    objects: frozenset[str]
    # Profiles whose attributes a record of this class uses (OCSF 1.1.0 gives
    # Group Management, User Access, Entity Management, Detection Finding and
    # Application Lifecycle their `actor` only through the `host` profile).
    profiles: tuple[str, ...] = ()


_IAM = (3, "Identity & Access Management")
# Classes and activities as OCSF 1.1.0 defines them (events/iam/*.json,
# events/application/*.json, events/findings/detection_finding.json, events/base_event.json).
AUTHENTICATION = OcsfClass(
    3002,
    "Authentication",
    "authentication",
    *_IAM,
    frozenset({"actor", "src_endpoint", "user", "service", "session"}),
)
ACCOUNT_CHANGE = OcsfClass(
    3001, "Account Change", "account_change", *_IAM, frozenset({"actor", "src_endpoint", "user"})
)
ENTITY_MANAGEMENT = OcsfClass(
    3004, "Entity Management", "entity_management", *_IAM, frozenset({"actor", "entity"}), ("host",)
)
USER_ACCESS = OcsfClass(
    3005,
    "User Access Management",
    "user_access",
    *_IAM,
    frozenset({"actor", "user", "privileges"}),
    ("host",),
)
GROUP_MANAGEMENT = OcsfClass(
    3006,
    "Group Management",
    "group_management",
    *_IAM,
    frozenset({"actor", "group", "user", "privileges"}),
    ("host",),
)
DETECTION_FINDING = OcsfClass(
    2004,
    "Detection Finding",
    "detection_finding",
    2,
    "Findings",
    frozenset({"actor", "finding_info", "resources"}),
    ("host",),
)
APPLICATION_LIFECYCLE = OcsfClass(
    6002,
    "Application Lifecycle",
    "application_lifecycle",
    6,
    "Application Activity",
    frozenset({"actor", "app"}),
    ("host",),
)
API_ACTIVITY = OcsfClass(
    6003,
    "API Activity",
    "api_activity",
    6,
    "Application Activity",
    frozenset({"actor", "src_endpoint", "api", "resources"}),
)
BASE_EVENT = OcsfClass(0, "Base Event", "base_event", 0, "Uncategorized", frozenset())
CLASSES = (
    AUTHENTICATION,
    ACCOUNT_CHANGE,
    ENTITY_MANAGEMENT,
    USER_ACCESS,
    GROUP_MANAGEMENT,
    DETECTION_FINDING,
    APPLICATION_LIFECYCLE,
    API_ACTIVITY,
    BASE_EVENT,
)

OTHER = Activity(99, "Other")
# Authentication
LOGON, LOGOFF = Activity(1, "Logon"), Activity(2, "Logoff")
# Account Change (1.1.0 has no Unlock: it came in 1.4 as 12)
CREATE, ENABLE, DISABLE, LOCK = (
    Activity(1, "Create"),
    Activity(2, "Enable"),
    Activity(5, "Disable"),
    Activity(9, "Lock"),
)
# User Access Management and Group Management
ASSIGN_PRIVILEGES, REVOKE_PRIVILEGES = (
    Activity(1, "Assign Privileges"),
    Activity(2, "Revoke Privileges"),
)
ADD_USER, REMOVE_USER = Activity(3, "Add User"), Activity(4, "Remove User")
# Entity Management and API Activity (CRUD)
READ, UPDATE, DELETE = Activity(2, "Read"), Activity(3, "Update"), Activity(4, "Delete")
# Application Lifecycle
INSTALL = Activity(1, "Install")
# Detection Finding
FINDING_CREATE, FINDING_UPDATE, FINDING_CLOSE = (
    Activity(1, "Create"),
    Activity(2, "Update"),
    Activity(3, "Close"),
)


@dataclass(frozen=True)
class Computed:
    """A value worked out per event: its SQL, and what it is in words (for the docs)."""

    sql: str
    doc: str


@dataclass(frozen=True)
class Pick:
    """An activity chosen per event: the first case whose SQL condition holds."""

    cases: tuple[tuple[str, Activity], ...]
    otherwise: Activity

    def sql(self) -> str:
        whens = " ".join(f"WHEN {condition} THEN {a.id}" for condition, a in self.cases)
        return f"CASE {whens} ELSE {self.otherwise.id} END"

    def choices(self) -> list[Activity]:
        return list(dict.fromkeys([*(a for _, a in self.cases), self.otherwise]))


@dataclass(frozen=True)
class Lookup:
    """An activity looked up per event by a SQL key (one CASE on constants: cheap to plan)."""

    key: str
    table: Mapping[str, Activity]
    otherwise: Activity
    doc: str

    def sql(self) -> str:
        whens = " ".join(f"WHEN {_lit(k)} THEN {a.id}" for k, a in self.table.items())
        return f"CASE {self.key} {whens} ELSE {self.otherwise.id} END"

    def choices(self) -> list[Activity]:
        return list(dict.fromkeys([*self.table.values(), self.otherwise]))


# The per-event parts of a record: each is a SQL expression over one exported row
# (the `events` columns, plus `born_payload` / `born_user_id`: the payload and user
# of the event that created the aggregate, for the event types in BORN). Types and
# what each is when a rule does not say.
FIELDS: dict[str, tuple[str, str]] = {
    "subject_uid": ("VARCHAR", "user_id"),  # whose account: a user id ...
    "subject_login": ("VARCHAR", "NULL"),  # ... or the email someone typed
    "group_uid": ("VARCHAR", "team_id"),  # a team, or a project (group_type 'Project')
    "group_type": ("VARCHAR", "'Team'"),
    # What a record names by name (see LABELS): the requirement, and the project.
    "requirement_uid": ("VARCHAR", "NULL"),
    "project_uid": ("VARCHAR", "project_id"),
    # Worked out after the names are found, so it may use LABELS (a requirement's name).
    "privileges": ("VARCHAR[]", "NULL"),
    "operation": ("VARCHAR", "NULL"),  # API Activity's api.operation
    "resources": ("STRUCT(uid VARCHAR, name VARCHAR, type VARCHAR)[]", "NULL"),
    "finding_uid": ("VARCHAR", "NULL"),
    "finding_title": ("VARCHAR", "NULL"),
    "finding_desc": ("VARCHAR", "NULL"),
    "finding_types": ("VARCHAR[]", "NULL"),
    "entity_uid": ("VARCHAR", "NULL"),
    "entity_name": ("VARCHAR", "NULL"),
    "entity_type": ("VARCHAR", "NULL"),
    "entity_data": ("VARCHAR", "NULL"),  # JSON text
    "session_uid": ("VARCHAR", "NULL"),
    "session_created": ("BIGINT", "NULL"),
    "session_expires": ("BIGINT", "NULL"),
    "status_detail": ("VARCHAR", "reason"),
    "count": ("BIGINT", "NULL"),
    "start_time": ("BIGINT", "NULL"),
    "end_time": ("BIGINT", "NULL"),
    "src_name": ("VARCHAR", "NULL"),
    "failed": ("BOOLEAN", "outcome = 'denied'"),  # the status: Failure, else Success
}
# Fields worked out with the record's names (LABELS), not before them.
LATE_FIELDS = ("privileges",)
# The names a record's message and late fields may use, found by id in the views:
# who it is about and who acted (by email), the team or project, the requirement.
LABELS = {
    "subject": "subject_label",
    "actor": "actor_label",
    "team": "group_label",
    "project": "project_label",
    "level": "project_level",
    "requirement": "requirement_label",
}


@dataclass(frozen=True)
class Rule:
    """How events of one type (where `when` holds) become OCSF records."""

    event_type: str
    ocsf: OcsfClass
    activity: Activity | Pick | Lookup
    severity: Severity | Computed = Severity.INFORMATIONAL
    status: Status | None = None  # None: Failure if the `failed` field holds, else Success
    message: str = "event_type"  # SQL, over the row and the labels (see _LABELLED)
    fields: Mapping[str, str] = field(default_factory=dict)
    when: str | None = None  # SQL; rules of one type are tried in order

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"{self.event_type}: no such OCSF field(s) {sorted(unknown)}")
        names = {a.id: a.name for a in self.activities()}
        if len(names) != len(self.activities()):
            raise ValueError(f"{self.event_type}: one activity id, one name")

    def activities(self) -> list[Activity]:
        return [self.activity] if isinstance(self.activity, Activity) else self.activity.choices()


@dataclass(frozen=True)
class Excluded:
    """An event type deliberately not emitted as OCSF, and why."""

    event_type: str
    why: str


RULES: list[Rule] = []
EXCLUDED: dict[str, Excluded] = {}
# Event types whose aggregate's first event the rules read (as born_payload / born_user_id).
BORN: set[str] = set()


def register(*entries: Rule | Excluded, born: Iterable[str] = ()) -> None:
    """Add mapping entries (a capability's own, as it lands)."""
    for entry in entries:
        if isinstance(entry, Excluded):
            if any(rule.event_type == entry.event_type for rule in RULES):
                raise ValueError(f"{entry.event_type} is both mapped and excluded")
            EXCLUDED[entry.event_type] = entry
        else:
            if entry.event_type in EXCLUDED:
                raise ValueError(f"{entry.event_type} is both mapped and excluded")
            RULES.append(entry)
    BORN.update(born)


def covered_event_types() -> set[str]:
    """Every event type with an entry: mapped, or excluded on purpose."""
    return {rule.event_type for rule in RULES} | set(EXCLUDED)


# -- SQL helpers --------------------------------------------------------------------------


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(path: str, source: str = "payload") -> str:
    """A payload field as text ($.a.b)."""
    return f"({source}->>{_lit('$.' + path)})"


def _uuid(path: str, source: str = "payload") -> str:
    """A UUID field as canonical text: the transcoder stores {"_type_": "uuid_hex", ...}."""
    wrapped, plain = _text(f"{path}._data_", source), _text(path, source)
    return f"CAST(COALESCE(TRY_CAST({wrapped} AS UUID), TRY_CAST({plain} AS UUID)) AS VARCHAR)"


def _ms(path: str, source: str = "payload") -> str:
    """A stored datetime ({"_type_": "datetime_iso", "_data_": ...}) as epoch milliseconds."""
    return f"epoch_ms(TRY_CAST({_text(path + '._data_', source)} AS TIMESTAMPTZ))"


def _strings(path: str, source: str = "payload") -> str:
    """A JSON array of strings as VARCHAR[]."""
    return f"CAST(json_extract({source}, {_lit('$.' + path)}) AS VARCHAR[])"


def _resource(uid: str = "NULL", name: str = "NULL", type: str = "NULL") -> str:
    return f"{{'uid': {uid}, 'name': {name}, 'type': {type}}}"


def _say(template: str, **values: str) -> str:
    """A message: text with {placeholders}. LABELS' (`subject`, `actor`, `team`,
    `project`, `level`, `requirement`) are who or what the record is about, by email
    or name; `values` gives SQL for others; any other placeholder is that payload field."""
    known = {**LABELS, **values}
    pieces = []
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2:
            pieces.append(known.get(piece, _text(piece)))
        elif piece:
            pieces.append(_lit(piece))
    return f"concat({', '.join(pieces)})"


# Roles, least to most privileged (domain/access.py: Role): a change to a higher
# one assigns a privilege, to a lower one revokes the old one.
ROLE_RANK = {"user": 0, "escrow": 1, "sub-admin": 2, "admin": 3, "super-admin": 4}


def _rank(expression: str) -> str:
    whens = " ".join(f"WHEN {_lit(role)} THEN {rank}" for role, rank in ROLE_RANK.items())
    return f"(CASE {expression} {whens} ELSE -1 END)"


# What a refused action did, by the first word of its name (domain/*_access.py
# actions): OCSF API Activity's CRUD activities.
ACTION_VERBS: dict[str, Activity] = {
    **dict.fromkeys(["view", "read", "list", "watch", "download", "export", "query"], READ),
    "use": READ,  # an API token: every scope reads (query, stream, export)
    **dict.fromkeys(["run", "ask", "report"], READ),  # forensic queries, questions, reports
    **dict.fromkeys(["create", "register", "save"], CREATE),
    **dict.fromkeys(["delete", "retire"], DELETE),
    **dict.fromkeys(
        ["update", "activate", "deactivate", "unlock", "change", "set", "add", "remove"], UPDATE
    ),
    **dict.fromkeys(["assign", "acknowledge", "resolve", "revoke"], UPDATE),
    # compliance (domain/compliance_access.py): a key released is data read
    **dict.fromkeys(["certify", "decertify", "manage", "park", "unpark", "tag", "untag"], UPDATE),
    "place": UPDATE,
    "release": READ,
}


# -- the mapping ----------------------------------------------------------------------------

_ACTION = _text("action")
_BEFORE_ROLE, _AFTER_ROLE = _text("before"), _text("after")
_GAINED = f"list_filter({_strings('after')}, lambda p: NOT list_contains({_strings('before')}, p))"
_LOST = f"list_filter({_strings('before')}, lambda p: NOT list_contains({_strings('after')}, p))"


def _alert_severity(payload: str) -> Computed:
    whens = " ".join(f"WHEN {_lit(n)} THEN {int(s)}" for n, s in ALERT_SEVERITIES.items())
    return Computed(f"(CASE {_text('severity', payload)} {whens} ELSE 0 END)", "the alert's own")


_FINDING = {
    "finding_uid": "aggregate_id",
    "finding_title": _text("type", "born_payload"),
    "finding_desc": _text("message", "born_payload"),
    "finding_types": f"[{_text('rule', 'born_payload')}]",
    "status_detail": f"NULLIF({_text('note')}, '')",
}
_TARGET = _text("target")
# A refusal's target as resources: "team:<id>" and the like, a bare id or email (a
# person), a word naming what it guards ("security-levels"), or a placement of one
# resource into another ("file:<id> -> folder:<id>"): both.
_KIND = "split_part(t, ':', 1)"
_ONE_TARGET = (
    "CASE WHEN regexp_full_match(t, '[a-z-]+:.+') "
    f"THEN {_resource(uid=f'substr(t, length({_KIND}) + 2)', type=_KIND)} "
    "WHEN regexp_full_match(t, '[a-z-]+') "
    f"THEN {_resource(name='t')} "
    f"ELSE {_resource(uid='t', type=_lit('user'))} END"
)
_REFUSED_RESOURCE = f"list_transform(string_split({_TARGET}, ' -> '), lambda t: {_ONE_TARGET})"


def _entity(kind: str, name: str, data: str) -> dict[str, str]:
    """The aggregate as Entity Management's entity: its kind, name and definition (data)."""
    return {
        "entity_uid": "aggregate_id",
        "entity_name": name,
        "entity_type": _lit(kind),
        "entity_data": data,
    }


_SAVED_NAME = _text("name", "born_payload")
_SAVED_DEFINITION = (
    "CAST(json_object('sql', payload->'$.sql', 'description', payload->'$.description', "
    "'tags', payload->'$.tags', 'parameters', payload->'$.parameters', "
    "'return_type', payload->'$.return_type') AS VARCHAR)"
)
_ALERT_SUBJECT = _resource(uid=_text("subject"), name=_text("subject_name"), type=_lit("user"))
_PROMOTED = f"{_rank(_AFTER_ROLE)} > {_rank(_BEFORE_ROLE)}"

_MIRROR = (
    "the same fact as {}, recorded on the other aggregate in the same save: emitted once, as that"
)
_INDEX = "a uniqueness index saved with {}: bookkeeping, not an action"
_ALERT = _text("type", "born_payload")

register(
    Rule(
        "Installation.Initialised",
        APPLICATION_LIFECYCLE,
        INSTALL,
        message=_say("Strongroom installed: audit key {audit_key_id}, {store_kind} store"),
    ),
    # -- accounts ------------------------------------------------------------------
    Rule(
        "User.Registered",
        ACCOUNT_CHANGE,
        CREATE,
        message=_say("{subject} registered (inactive until an administrator activates it)"),
    ),
    Rule("User.Activated", ACCOUNT_CHANGE, ENABLE, message=_say("{subject} activated")),
    Rule(
        "User.Deactivated",
        ACCOUNT_CHANGE,
        DISABLE,
        message=_say("{subject} deactivated: {reason}"),
        fields={"status_detail": _text("reason")},
    ),
    Rule(
        "User.ReleasedFromLastTeam",
        ACCOUNT_CHANGE,
        DISABLE,
        message=_say(
            "{subject} removed from the last team ({team}): deactivated, permissions reset"
        ),
        fields={"group_uid": _uuid("team_id"), "status_detail": "'removed from the last team'"},
    ),
    Rule(
        "User.Locked",
        ACCOUNT_CHANGE,
        LOCK,
        Severity.MEDIUM,
        message=_say("{subject} locked: {reason}"),
    ),
    Rule(
        "User.Unlocked", ACCOUNT_CHANGE, Activity(99, "Unlock"), message=_say("{subject} unlocked")
    ),
    Rule(
        "User.RoleChanged",
        USER_ACCESS,
        Pick(((_PROMOTED, ASSIGN_PRIVILEGES),), REVOKE_PRIVILEGES),
        message=_say("role of {subject} changed from {before} to {after}"),
        fields={
            "privileges": f"CASE WHEN {_PROMOTED} THEN [{_AFTER_ROLE}] ELSE [{_BEFORE_ROLE}] END"
        },
    ),
    Rule(
        "User.PermissionsChanged",
        USER_ACCESS,
        Pick(
            ((f"len({_GAINED}) > 0", ASSIGN_PRIVILEGES), (f"len({_LOST}) > 0", REVOKE_PRIVILEGES)),
            Activity(99, "Reapply Privileges"),
        ),
        message=_say(
            "permissions of {subject}: granted [{gained}], revoked [{lost}], now [{now}]",
            gained=f"array_to_string({_GAINED}, ', ')",
            lost=f"array_to_string({_LOST}, ', ')",
            now=f"array_to_string({_strings('after')}, ', ')",
        ),
        fields={
            "privileges": f"CASE WHEN len({_GAINED}) > 0 THEN {_GAINED} "
            f"WHEN len({_LOST}) > 0 THEN {_LOST} ELSE {_strings('after')} END",
        },
    ),
    Excluded("User.JoinedTeam", _MIRROR.format("Team.MemberAdded")),
    Excluded("User.LeftTeam", _MIRROR.format("Team.MemberRemoved")),
    Excluded("User.AssignedAsSubAdmin", _MIRROR.format("Team.SubAdminAssigned")),
    Excluded("User.SessionStarted", _MIRROR.format("Session.Started")),
    Excluded("User.SessionsEnded", _MIRROR.format("Session.Ended (one per session)")),
    Excluded("EmailIndex.Claimed", _INDEX.format("User.Registered")),
    # -- logins and sessions -------------------------------------------------------------
    Rule(
        "Challenge.Issued",
        AUTHENTICATION,
        # OCSF 1.4 names this step (6, "Preauth"); 1.1.0 has only Other.
        Activity(99, "Preauth"),
        message=_say("login challenge issued for {email}"),
        fields={"subject_login": _text("email"), "subject_uid": "NULL"},
    ),
    Excluded(
        "Challenge.Used",
        "the login it was used for is its own event: Session.Started, User.LoginFailed, "
        "or the refusal (DeniedAttempt.Recorded, action login)",
    ),
    Rule(
        "User.LoginFailed",
        AUTHENTICATION,
        LOGON,
        Severity.LOW,
        FAILURE,
        message=_say("login refused for {subject}: {reason}"),
    ),
    Rule(
        "Session.Started",
        AUTHENTICATION,
        LOGON,
        message=_say("{subject} logged in"),
        fields={
            "session_uid": "aggregate_id",
            "session_created": _ms("started_at"),
            "session_expires": _ms("expires_at"),
        },
    ),
    Rule(
        "Session.Touched",
        AUTHENTICATION,
        # The session's token was presented and accepted (recorded once a minute).
        Activity(99, "Session Activity"),
        message=_say("session of {subject} in use"),
        fields={"subject_uid": "born_user_id", "session_uid": "aggregate_id"},
    ),
    Rule(
        "Session.Ended",
        AUTHENTICATION,
        LOGOFF,
        message=_say("session of {subject} ended: {reason}"),
        fields={"subject_uid": "born_user_id", "session_uid": "aggregate_id"},
    ),
    # -- refusals --------------------------------------------------------------------------
    Rule(
        "DeniedAttempt.Recorded",
        AUTHENTICATION,
        LOGON,
        Severity.LOW,
        FAILURE,
        when=f"{_ACTION} = 'login'",
        message=_say("login refused for {subject}: {reason}"),
        fields={"subject_login": _TARGET},
    ),
    Rule(
        "DeniedAttempt.Recorded",
        AUTHENTICATION,
        # A session token presented and refused (unknown, expired, idle, ended).
        Activity(99, "Session Authentication"),
        Severity.LOW,
        FAILURE,
        when=f"{_ACTION} = 'authenticate'",
        message=_say("session refused for {subject}: {reason}"),
        fields={"subject_login": "CASE WHEN user_id IS NULL THEN '(unknown session)' END"},
    ),
    Rule(
        "DeniedAttempt.Recorded",
        API_ACTIVITY,
        Lookup(
            f"split_part({_ACTION}, '-', 1)",
            ACTION_VERBS,
            OTHER,
            "by the action's verb: Create, Read, Update, Delete, or Other",
        ),
        Severity.LOW,
        FAILURE,
        message=_say("{actor} refused {action} on {on}: {reason}", on=f"coalesce({_TARGET}, '-')"),
        fields={"operation": _ACTION, "resources": _REFUSED_RESOURCE},
    ),
    Rule(
        "ThrottledRequests.Counted",
        API_ACTIVITY,
        Activity(99, "Throttle"),
        Severity.MEDIUM,
        FAILURE,
        message=_say("{refused} requests from {source} refused by the rate limit"),
        fields={
            "operation": "'rate-limit'",
            "resources": "list_transform(json_keys(payload, '$.paths'), "
            f"lambda p: {_resource(name='p', type=_lit('path'))})",
            "count": f"TRY_CAST({_text('refused')} AS BIGINT)",
            "start_time": _ms("first_at"),
            "end_time": _ms("last_at"),
            "src_name": _text("source"),
        },
    ),
    # -- officers' reads -------------------------------------------------------------------
    Rule(
        "DirectoryRead.Recorded",
        API_ACTIVITY,
        READ,
        message=_say("{actor} read {what} ({count} records)"),
        fields={
            "operation": f"concat('read-', {_text('what')})",
            "resources": f"CASE WHEN {_TARGET} IS NOT NULL "
            f"THEN [{_resource(uid=_TARGET, type=_text('what'))}] END",
        },
    ),
    # -- teams ----------------------------------------------------------------------------
    # OCSF 1.1.0's Group Management needs a user or privileges, which a new team
    # has neither of: creating a team, and its quota, are Entity Management.
    Rule(
        "Team.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say("team {name} created"),
        fields=_entity("Team", _text("name"), "CAST(json_extract(payload, '$.quota') AS VARCHAR)"),
    ),
    Rule(
        "Team.QuotaChanged",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say("quota of team {team} changed from {before} to {after}"),
        fields=_entity("Team", "NULL", "CAST(json_extract(payload, '$.after') AS VARCHAR)"),
    ),
    Rule(
        "Team.MemberAdded",
        GROUP_MANAGEMENT,
        ADD_USER,
        message=_say("{subject} added to team {team}"),
    ),
    Rule(
        "Team.MemberRemoved",
        GROUP_MANAGEMENT,
        REMOVE_USER,
        message=_say("{subject} removed from team {team}"),
    ),
    Rule(
        "Team.SubAdminAssigned",
        GROUP_MANAGEMENT,
        ASSIGN_PRIVILEGES,
        message=_say("{subject} made sub-admin of team {team}"),
        fields={"privileges": "['sub-admin']"},
    ),
    Excluded("TeamName.Claimed", _INDEX.format("Team.Created")),
    Rule(
        "Profile.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say("profile {name} created"),
        fields=_entity(
            "Profile", _text("name"), "CAST(json_extract(payload, '$.permissions') AS VARCHAR)"
        ),
    ),
    # -- alerts -----------------------------------------------------------------------------
    Rule(
        "Alert.Raised",
        DETECTION_FINDING,
        FINDING_CREATE,
        _alert_severity("payload"),
        FINDING_NEW,
        message=_text("message"),
        fields={
            "finding_uid": "aggregate_id",
            "finding_title": _text("type"),
            "finding_desc": _text("message"),
            "finding_types": f"[{_text('rule')}]",
            "resources": f"CASE WHEN {_text('subject')} IS NOT NULL THEN [{_ALERT_SUBJECT}] END",
        },
    ),
    Rule(
        "Alert.Acknowledged",
        DETECTION_FINDING,
        FINDING_UPDATE,
        _alert_severity("born_payload"),
        FINDING_IN_PROGRESS,
        message=_say("alert {alert} acknowledged by {actor}", alert=_ALERT),
        fields=_FINDING,
    ),
    Rule(
        "Alert.Resolved",
        DETECTION_FINDING,
        FINDING_CLOSE,
        _alert_severity("born_payload"),
        FINDING_RESOLVED,
        message=_say("alert {alert} resolved by {actor}", alert=_ALERT),
        fields=_FINDING,
    ),
    # -- machine access (API tokens) -------------------------------------------------------
    Rule(
        "AccessToken.Created",
        ACCOUNT_CHANGE,
        # A credential for the officer's account; 1.1.0 has activities for passwords only.
        Activity(99, "API Token Create"),
        message=_say(
            "{subject} created API token {token_id} ({name}) for {scopes}",
            scopes=f"array_to_string({_strings('scopes')}, ', ')",
        ),
        fields={"subject_uid": _uuid("created_by")},
    ),
    Rule(
        "AccessToken.Revoked",
        ACCOUNT_CHANGE,
        Activity(99, "API Token Revoke"),
        message=_say("{actor} revoked API token {token}", token=_text("token_id", "born_payload")),
        fields={
            "subject_uid": _uuid("created_by", "born_payload"),
            "status_detail": f"NULLIF({_text('reason')}, '')",
        },
    ),
    Excluded("TokenCatalogue.Opened", "the list of token ids officers read: bookkeeping"),
    Excluded("TokenCatalogue.TokenAdded", _INDEX.format("AccessToken.Created")),
    Rule(
        "TokenUse.Used",
        API_ACTIVITY,
        READ,
        message=_say("API token {token_id} used for {scope} on {route}"),
        fields={
            "operation": _text("route"),
            "resources": f"[{_resource(uid=_text('token_id'), type=_lit('token'))}]",
        },
    ),
    # -- forensics: copies of the history, and officers' questions of it ----------------------
    Rule(
        "ForensicExport.Written",
        API_ACTIVITY,
        READ,
        message=_say(
            "{actor} exported positions {from_position} to {to_position} ({events} events) "
            "as {format}"
        ),
        fields={
            "operation": "'export'",
            "resources": f"[{_resource(name=_text('destination'), type=_lit('export'))}]",
        },
    ),
    Rule(
        "QueryRun.Recorded",
        API_ACTIVITY,
        READ,
        Computed(
            f"CASE WHEN {_text('outcome')} = 'refused' THEN {int(Severity.LOW)} "
            f"ELSE {int(Severity.INFORMATIONAL)} END",
            "Low (2) if refused, else Informational (1)",
        ),
        message=_say(
            "{actor} ran {query}: {outcome} ({row_count} rows)",
            query=f"coalesce('saved query ' || {_text('saved_query')}, 'a query')",
        ),
        fields={
            "operation": f"CASE WHEN {_text('saved_query')} IS NULL THEN 'run-query' "
            "ELSE 'run-saved-query' END",
            "resources": f"CASE WHEN {_text('saved_query')} IS NOT NULL "
            f"THEN [{_resource(name=_text('saved_query'), type=_lit('saved query'))}] END",
            "failed": f"{_text('outcome')} <> 'answered'",
            "status_detail": _text("reason"),
        },
    ),
    Rule(
        "ForensicQuestion.Asked",
        API_ACTIVITY,
        READ,
        message=_say("{actor} asked {question} ({rows} rows)"),
        fields={
            "operation": f"concat('ask-', {_text('question')})",
            "resources": "CASE "
            f"WHEN user_id IS NOT NULL THEN [{_resource(uid='user_id', type=_lit('user'))}] "
            f"WHEN team_id IS NOT NULL THEN [{_resource(uid='team_id', type=_lit('team'))}] END",
        },
    ),
    Rule(
        "ExportRead.Recorded",
        API_ACTIVITY,
        READ,
        message=_say("{actor} read {path} of the forensic export (up to position {position})"),
        fields={
            "operation": "'read-export'",
            "resources": f"[{_resource(name=_text('path'), type=_lit('export file'))}]",
        },
    ),
    Rule(
        "HistoryRead.Recorded",
        API_ACTIVITY,
        READ,
        message=_say("{actor} read the {what} as of {as_of} (position {position})"),
        fields={
            "operation": f"concat('read-', {_text('what')}, '-as-of')",
            "resources": f"[{_resource(uid=_TARGET, name=_text('as_of'), type=_text('what'))}]",
        },
    ),
    Rule(
        "ComplianceReport.Generated",
        API_ACTIVITY,
        READ,
        message=_say(
            "{actor} took the {kind} report {name} as {format} (history to position {position})"
        ),
        fields={
            "operation": f"concat('report-', {_text('kind')})",
            "resources": f"[{_resource(name=_text('name'), type=_lit('report'))}]",
        },
    ),
    Rule(
        "SavedQuery.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say("{actor} saved the query {name}"),
        fields=_entity("Saved Query", _text("name"), _SAVED_DEFINITION),
    ),
    Rule(
        "SavedQuery.Updated",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say("{actor} changed the saved query {query}", query=_SAVED_NAME),
        fields=_entity("Saved Query", _SAVED_NAME, _SAVED_DEFINITION),
    ),
    Rule(
        "SavedQuery.Retired",
        ENTITY_MANAGEMENT,
        DELETE,
        message=_say("{actor} retired the saved query {query}", query=_SAVED_NAME),
        fields=_entity("Saved Query", _SAVED_NAME, "NULL"),
    ),
    Rule(
        "SavedQuery.Restored",
        ENTITY_MANAGEMENT,
        Activity(99, "Restore"),
        message=_say("{actor} restored the saved query {query}", query=_SAVED_NAME),
        fields=_entity("Saved Query", _SAVED_NAME, _SAVED_DEFINITION),
    ),
    Excluded("SavedQueryCatalogue.Started", "the list of saved queries' names: bookkeeping"),
    Excluded("SavedQueryCatalogue.Listed", _INDEX.format("SavedQuery.Created")),
    born={"Session.Started", "Alert.Raised", "AccessToken.Created", "SavedQuery.Created"},
)

# -- compliance: requirements, levels, certifications, projects, tags ------------------------

# A certification is a person's standing for one requirement, which project access
# depends on: User Access Management, the requirement (by name) as the privilege.
# Its person and requirement are in its first event (Certification.Certified) only.
_CERTIFIED = {"requirement_uid": _uuid("requirement_id"), "privileges": "[requirement_label]"}
_CERTIFICATION = {
    "subject_uid": "born_user_id",
    "requirement_uid": _uuid("requirement_id", "born_payload"),
    "privileges": "[requirement_label]",
}
_UNTIL = f"coalesce('until ' || {_text('expires_at._data_')}, 'with no expiry')"
# A project's members are a group of it (Group Management, group type Project); what a
# compliant member holds there is the project's data, as their restrictions allow.
PROJECT_DATA = "project-data"
_MEMBER = {"group_uid": "project_id", "group_type": "'Project'"}
_PROJECT_DATA = {**_MEMBER, "privileges": f"[{_lit(PROJECT_DATA)}]"}
# A restriction ("cannot-download") takes away the privilege it names ("download").
_RESTRICTED = f"list_transform({_GAINED}, lambda r: replace(r, 'cannot-', ''))"
_UNRESTRICTED = f"list_transform({_LOST}, lambda r: replace(r, 'cannot-', ''))"


def _listed(path: str) -> str:
    """A stored list of text, for a message: "a, b", or "none"."""
    return f"coalesce(NULLIF(array_to_string({_strings(path)}, ', '), ''), 'none')"


# A tag list's resource (kind and id) is in its first event (ResourceTags.Opened) only.
_TAGGED_KIND = _text("kind", "born_payload")
_TAGGED_ID = _uuid("resource_id", "born_payload")


def _tag(change: str) -> dict[str, str]:
    """The tagged resource as the entity; the tag put on or taken off as its data."""
    return {
        "entity_uid": _TAGGED_ID,
        "entity_type": _TAGGED_KIND,
        "entity_data": f"CAST(json_object('tag', {_lit(change)}, 'project_id', project_id) "
        "AS VARCHAR)",
    }


def _project(data: str) -> dict[str, str]:
    return _entity("Project", _text("name", "born_payload"), data)


def _uuids(path: str) -> str:
    """A stored list of UUIDs as canonical text (VARCHAR[])."""
    found = f"CAST(json_extract_string(payload, {_lit('$.' + path + '[*]._data_')}) AS VARCHAR[])"
    return f"list_transform({found}, lambda u: CAST(TRY_CAST(u AS UUID) AS VARCHAR))"


_REQUIREMENT_FACTS = (
    "CAST(json_object('description', payload->'$.description', "
    "'lifespan_days', payload->'$.lifespan_days') AS VARCHAR)"
)
_LEVEL_CHANGE = (
    f"CAST(json_object('requirement_id', {_uuid('requirement_id')}, "
    f"'projects_affected', {_uuids('projects_affected')}) AS VARCHAR)"
)
_AFFECTED = "json_array_length(payload, '$.projects_affected')"
_LIFESPAN_BEFORE, _LIFESPAN_AFTER = _text("before.lifespan_days"), _text("after.lifespan_days")
_BOOKKEEPING = "{}: bookkeeping, not an action"

register(
    Rule(
        "Requirement.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say("{actor} created the security requirement {name}"),
        fields=_entity("Security Requirement", _text("name"), _REQUIREMENT_FACTS),
    ),
    Rule(
        "Requirement.Changed",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say(
            "{actor} changed the {what} of the security requirement {name}",
            name=_text("name", "born_payload"),
            what=f"CASE WHEN {_LIFESPAN_BEFORE} IS DISTINCT FROM {_LIFESPAN_AFTER} "
            f"THEN concat('lifespan (', coalesce({_LIFESPAN_BEFORE}, 'none'), ' to ', "
            f"coalesce({_LIFESPAN_AFTER}, 'none'), ' days)') ELSE 'description' END",
        ),
        fields=_entity(
            "Security Requirement",
            _text("name", "born_payload"),
            "CAST(json_extract(payload, '$.after') AS VARCHAR)",
        ),
    ),
    Rule(
        "SecurityLevel.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say(
            "{actor} created the security level {name} (requirements: {count})",
            count="json_array_length(payload, '$.requirement_ids')",
        ),
        fields=_entity(
            "Security Level",
            _text("name"),
            f"CAST(json_object('requirement_ids', {_uuids('requirement_ids')}) AS VARCHAR)",
        ),
    ),
    Rule(
        "SecurityLevel.RequirementAdded",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say(
            "{actor} added the requirement {requirement} to the security level {name} "
            "(projects affected: {affected})",
            name=_text("name", "born_payload"),
            affected=_AFFECTED,
        ),
        fields={
            **_entity("Security Level", _text("name", "born_payload"), _LEVEL_CHANGE),
            "requirement_uid": _uuid("requirement_id"),
        },
    ),
    Rule(
        "SecurityLevel.RequirementRemoved",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say(
            "{actor} removed the requirement {requirement} from the security level {name} "
            "(projects weakened, as acknowledged: {affected})",
            name=_text("name", "born_payload"),
            affected=_AFFECTED,
        ),
        fields={
            **_entity("Security Level", _text("name", "born_payload"), _LEVEL_CHANGE),
            "requirement_uid": _uuid("requirement_id"),
        },
    ),
    Rule(
        "Certification.Certified",
        USER_ACCESS,
        ASSIGN_PRIVILEGES,
        message=_say("{actor} certified {subject} for {requirement} {until}", until=_UNTIL),
        fields=_CERTIFIED,
    ),
    Rule(
        "Certification.Recertified",
        USER_ACCESS,
        ASSIGN_PRIVILEGES,
        message=_say("{actor} re-certified {subject} for {requirement} {until}", until=_UNTIL),
        fields=_CERTIFICATION,
    ),
    Rule(
        "Certification.Decertified",
        USER_ACCESS,
        REVOKE_PRIVILEGES,
        message=_say("{actor} withdrew the {requirement} certification of {subject}: {reason}"),
        fields={**_CERTIFICATION, "status_detail": _text("reason")},
    ),
    Rule(
        "Certification.Expired",
        USER_ACCESS,
        REVOKE_PRIVILEGES,
        message=_say(
            "the {requirement} certification of {subject} expired at {at}",
            at=_text("expired_at._data_"),
        ),
        fields={**_CERTIFICATION, "status_detail": "'expired'"},
    ),
    # OCSF 1.1.0's Group Management needs a member or privileges, which a new project
    # has neither of: creating one, and parking it, are Entity Management.
    Rule(
        "Project.Created",
        ENTITY_MANAGEMENT,
        CREATE,
        message=_say("{actor} created the project {name} (security level {level})"),
        fields=_project(
            "CAST(json_object('description', payload->'$.description', "
            f"'security_level_id', {_uuid('security_level_id')}, "
            f"'parent_id', {_uuid('parent_id')}, "
            "'allows_mixing', payload->'$.allows_mixing') AS VARCHAR)"
        ),
    ),
    Rule(
        "Project.Parked",
        ENTITY_MANAGEMENT,
        # It grants nothing until unparked; 1.1.0's Entity Management has only CRUD.
        Activity(99, "Park"),
        message=_say("{actor} parked the project {project}: {reason}"),
        fields={**_project("NULL"), "status_detail": _text("reason")},
    ),
    Rule(
        "Project.Unparked",
        ENTITY_MANAGEMENT,
        Activity(99, "Unpark"),
        message=_say("{actor} unparked the project {project}"),
        fields=_project("NULL"),
    ),
    Rule(
        "Project.MemberAdded",
        GROUP_MANAGEMENT,
        ADD_USER,
        message=_say(
            "{subject} added to project {project} (restrictions: {restrictions})",
            restrictions=_listed("restrictions"),
        ),
        fields=_MEMBER,
    ),
    Rule(
        "Project.MemberRemoved",
        GROUP_MANAGEMENT,
        REMOVE_USER,
        message=_say("{subject} removed from project {project}: {reason}"),
        fields={**_MEMBER, "status_detail": _text("reason")},
    ),
    Rule(
        "Project.RestrictionsChanged",
        GROUP_MANAGEMENT,
        # A new restriction revokes what it names; a lifted one gives it back.
        Pick(((f"len({_GAINED}) > 0", REVOKE_PRIVILEGES),), ASSIGN_PRIVILEGES),
        message=_say(
            "restrictions of {subject} in project {project} changed from {was} to {now}",
            was=_listed("before"),
            now=_listed("after"),
        ),
        fields={
            **_MEMBER,
            "privileges": f"CASE WHEN len({_GAINED}) > 0 THEN {_RESTRICTED} "
            f"ELSE {_UNRESTRICTED} END",
        },
    ),
    Rule(
        "Project.MemberLapsed",
        GROUP_MANAGEMENT,
        # Recorded by the compliance rules when a requirement stops being met.
        REVOKE_PRIVILEGES,
        message=_say("{subject} no longer compliant in project {project}: {why}", why="reason"),
        fields={**_PROJECT_DATA, "status_detail": "reason"},
    ),
    Rule(
        "Project.MemberRestored",
        GROUP_MANAGEMENT,
        ASSIGN_PRIVILEGES,
        message=_say("{subject} compliant again in project {project}"),
        fields=_PROJECT_DATA,
    ),
    Rule(
        "ResourceTags.Tagged",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say(
            "{actor} tagged {kind} {resource} with project {project}",
            kind=_TAGGED_KIND,
            resource=_TAGGED_ID,
        ),
        fields=_tag("added"),
    ),
    Rule(
        "ResourceTags.Untagged",
        ENTITY_MANAGEMENT,
        UPDATE,
        message=_say(
            "{actor} removed the tag of project {project} from {kind} {resource}",
            kind=_TAGGED_KIND,
            resource=_TAGGED_ID,
        ),
        fields=_tag("removed"),
    ),
    Excluded(
        "ResourceTags.Opened",
        _BOOKKEEPING.format("a resource's list of tags, saved with its first ResourceTags.Tagged"),
    ),
    Excluded("UserProjects.Joined", _MIRROR.format("Project.MemberAdded")),
    Excluded("UserProjects.Left", _MIRROR.format("Project.MemberRemoved")),
    Excluded(
        "UserProjects.Opened",
        _BOOKKEEPING.format(
            "a person's list of projects, saved with their first Project.MemberAdded"
        ),
    ),
    Excluded(
        "LevelProjects.Opened",
        _BOOKKEEPING.format("a level's list of projects, saved with its first Project.Created"),
    ),
    Excluded(
        "LevelProjects.Assigned",
        _BOOKKEEPING.format("a level's list of projects, saved with Project.Created"),
    ),
    Excluded(
        "UniqueName.Claimed",
        _INDEX.format("Requirement.Created, SecurityLevel.Created and Project.Created"),
    ),
    born={
        "Certification.Certified",
        "Project.Created",
        "Requirement.Created",
        "ResourceTags.Opened",
        "SecurityLevel.Created",
    },
)

# Anything unmapped: OCSF's Base Event, named by its event type (see the module doc).
FALLBACK = Rule("*", BASE_EVENT, OTHER)


# -- the view ------------------------------------------------------------------------------

_EMAIL = "'[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\\.[a-zA-Z0-9-.]+'"  # OCSF 1.1.0 email_t
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IP = f"'({_OCTET}\\.){{3}}{_OCTET}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(%.+)?'"  # OCSF ip_t, roughly

# Who each actor is, in OCSF's user type_id (0 Unknown, 1 User, 2 Admin, 3 System, 99 Other).
_ACTOR_TYPES = {
    "system": (3, "System"),
    "super-admin": (2, "Admin"),
    "admin": (2, "Admin"),
    "sub-admin": (2, "Admin"),
    "user": (1, "User"),
    "escrow": (1, "User"),
    "anonymous": (99, "Anonymous"),
}


def _email_or_null(expression: str) -> str:
    return f"CASE WHEN regexp_full_match({expression}, {_EMAIL}) THEN {expression} END"


def _case(rules: list[Rule], value: Any, default: str = "NULL") -> str:
    """CASE rule WHEN i THEN value(rule) ... over every rule (and the fallback, last)."""
    whens = [f"WHEN {i} THEN {value(rule)}" for i, rule in enumerate(rules)]
    return f"CASE rule {' '.join(whens)} ELSE {default} END"


def _activity_id(rule: Rule) -> str:
    activity = rule.activity
    return str(activity.id) if isinstance(activity, Activity) else f"({activity.sql()})"


def _activity_name(rule: Rule) -> str:
    """Its name, from the id already worked out (conditions are evaluated once)."""
    if isinstance(rule.activity, Activity):
        return _lit(rule.activity.name)
    whens = " ".join(f"WHEN {a.id} THEN {_lit(a.name)}" for a in rule.activities())
    return f"(CASE activity_id {whens} END)"


def _rule_index(rules: list[Rule]) -> str:
    excluded = ", ".join(_lit(t) for t in sorted(EXCLUDED))
    whens = [f"WHEN event_type IN ({excluded}) THEN NULL"] if excluded else []
    for i, rule in enumerate(rules[:-1]):
        condition = f"event_type = {_lit(rule.event_type)}"
        if rule.when is not None:
            condition += f" AND ({rule.when})"
        whens.append(f"WHEN {condition} THEN {i}")
    return f"CASE {' '.join(whens)} ELSE {len(rules) - 1} END"


def _objects_of(name: str) -> str:
    """The class_uids whose records carry the object column `name`."""
    uids = [str(c.uid) for c in CLASSES if name in c.objects]
    return ", ".join(uids) if uids else "NULL"


def ocsf_view_sql() -> str:
    """The SELECT of the `ocsf` view, over `events`, `people` and `teams` (views.py)."""
    rules = [*RULES, FALLBACK]
    born = ", ".join(_lit(t) for t in sorted(BORN)) or "NULL"
    fields, late = [], {}
    for name, (sql_type, default) in FIELDS.items():
        setters = [(i, r.fields[name]) for i, r in enumerate(rules) if name in r.fields]
        whens = " ".join(f"WHEN {i} THEN {expression}" for i, expression in setters)
        value = f"CASE rule {whens} ELSE {default} END" if setters else default
        if name in LATE_FIELDS:
            late[name] = f"CAST({value} AS {sql_type})"
        else:
            fields.append(f"CAST({value} AS {sql_type}) AS {name}")
    severity = _case(
        rules,
        lambda r: str(int(r.severity)) if isinstance(r.severity, Severity) else r.severity.sql,
    )
    activity_name = _case(rules, _activity_name)
    severity_caption = " ".join(f"WHEN {int(s)} THEN {_lit(s.caption)}" for s in Severity)

    def status(part: Literal["id", "name"]) -> Any:
        def value(rule: Rule) -> str:
            if rule.status is not None:
                return str(rule.status.id) if part == "id" else _lit(rule.status.name)
            if part == "id":
                return f"CASE WHEN failed THEN {FAILURE.id} ELSE {SUCCESS.id} END"
            return f"CASE WHEN failed THEN {_lit(FAILURE.name)} ELSE {_lit(SUCCESS.name)} END"

        return value

    actor_type_ids = " ".join(f"WHEN {_lit(r)} THEN {i}" for r, (i, _) in _ACTOR_TYPES.items())
    actor_type_names = " ".join(
        f"WHEN {_lit(r)} THEN {_lit(n)}" for r, (_, n) in _ACTOR_TYPES.items()
    )
    profiles = " ".join(
        f"WHEN {c.uid} THEN [{', '.join(_lit(p) for p in c.profiles)}]::VARCHAR[]" for c in CLASSES
    )
    return f"""
WITH born AS (
    SELECT aggregate_id AS born_id, user_id AS born_user_id, payload AS born_payload
    FROM events WHERE event_type IN ({born})
),
ruled AS (
    SELECT e.*, b.born_user_id, b.born_payload, {_rule_index(rules)} AS rule
    FROM events e LEFT JOIN born b ON b.born_id = e.aggregate_id
),
mapped AS (
    SELECT ruled.*,
        {_case(rules, lambda r: str(r.ocsf.uid))} AS class_uid,
        {_case(rules, _activity_id)} AS activity_id,
        {severity} AS severity_id,
        {", ".join(fields)}
    FROM ruled WHERE rule IS NOT NULL
),
labelled AS (
    SELECT m.*,
        coalesce(m.subject_uid, by_login.user_id) AS subject_user_uid,
        coalesce(subject.email, by_login.email, m.subject_login) AS subject_email,
        coalesce(subject.name, by_login.name) AS subject_name,
        actor.name AS actor_name, coalesce(t.name, group_project.name) AS group_name,
        coalesce(subject.email, by_login.email, m.subject_login, m.subject_uid) AS subject_label,
        coalesce(m.actor_email, m.actor_id) AS actor_label,
        coalesce(t.name, group_project.name, m.group_uid) AS group_label,
        coalesce(p.name, m.project_uid) AS project_label, p.security_level AS project_level,
        coalesce(rq.name, m.requirement_uid) AS requirement_label,
        CASE WHEN regexp_full_match(m.client_ip, {_IP}) THEN m.client_ip END AS ip,
        CASE WHEN regexp_full_match(m.proxy_ip, {_IP}) THEN m.proxy_ip END AS via_ip
    FROM mapped m
        LEFT JOIN people subject ON subject.user_id = m.subject_uid
        LEFT JOIN people by_login
            ON m.subject_uid IS NULL AND lower(by_login.email) = lower(m.subject_login)
        LEFT JOIN people actor ON actor.user_id = m.actor_id
        LEFT JOIN teams t ON t.team_id = m.group_uid
        LEFT JOIN projects p ON p.project_id = m.project_uid
        LEFT JOIN projects group_project
            ON m.group_type = 'Project' AND group_project.project_id = m.group_uid
        LEFT JOIN requirements rq ON rq.requirement_id = m.requirement_uid
)
SELECT
    position,
    class_uid,
    CASE class_uid {" ".join(f"WHEN {c.uid} THEN {_lit(c.name)}" for c in CLASSES)} END
        AS class_name,
    CASE class_uid {" ".join(f"WHEN {c.uid} THEN {c.category_uid}" for c in CLASSES)} END
        AS category_uid,
    CASE class_uid {" ".join(f"WHEN {c.uid} THEN {_lit(c.category_name)}" for c in CLASSES)} END
        AS category_name,
    activity_id,
    CASE WHEN class_uid = {BASE_EVENT.uid} THEN event_type ELSE {activity_name} END
        AS activity_name,
    class_uid * 100 + activity_id AS type_uid,
    concat(
        CASE class_uid {" ".join(f"WHEN {c.uid} THEN {_lit(c.name)}" for c in CLASSES)} END,
        ': ',
        CASE WHEN class_uid = {BASE_EVENT.uid} THEN event_type ELSE {activity_name} END
    ) AS type_name,
    epoch_ms(recorded_at) AS time,
    0 AS timezone_offset,
    severity_id,
    CASE severity_id {severity_caption} END AS severity,
    {_case(rules, status("id"))} AS status_id,
    {_case(rules, status("name"))} AS status,
    status_detail,
    CAST({_case(rules, lambda r: r.message)} AS VARCHAR) AS message,
    count,
    start_time,
    end_time,
    CASE WHEN class_uid IN ({_objects_of("actor")}) THEN {{
        'user': {{
            'uid': actor_id,
            'name': coalesce(actor_email, actor_id),
            'full_name': actor_name,
            'email_addr': {_email_or_null("actor_email")},
            'type_id': CASE actor_role {actor_type_ids} ELSE 0 END,
            'type': CASE actor_role {actor_type_names} ELSE 'Unknown' END
        }},
        'session': CASE WHEN session_id IS NOT NULL THEN {{'uid': session_id}} END
    }} END AS actor,
    CASE WHEN class_uid IN ({_objects_of("src_endpoint")})
        AND (client_ip IS NOT NULL OR src_name IS NOT NULL OR class_uid = {API_ACTIVITY.uid})
    THEN {{
        'ip': ip,
        'name': coalesce(src_name, CASE WHEN ip IS NULL THEN client_ip END,
            CASE WHEN ip IS NULL THEN 'strongroom' END),
        'intermediate_ips': CASE WHEN via_ip IS NOT NULL THEN [via_ip] END
    }} END AS src_endpoint,
    CASE WHEN class_uid IN ({_objects_of("user")})
        AND coalesce(subject_user_uid, subject_email) IS NOT NULL
    THEN {{
        'uid': subject_user_uid,
        'name': subject_email,
        'full_name': subject_name,
        'email_addr': {_email_or_null("subject_email")}
    }} END AS "user",
    CASE WHEN class_uid IN ({_objects_of("group")}) AND group_uid IS NOT NULL
        THEN {{'uid': group_uid, 'name': group_name, 'type': group_type}} END AS "group",
    CASE WHEN class_uid IN ({_objects_of("privileges")}) THEN {late["privileges"]} END
        AS privileges,
    CASE WHEN class_uid IN ({_objects_of("api")}) THEN {{
        'operation': coalesce(operation, event_type),
        'request': {{'uid': request_id}}
    }} END AS api,
    CASE WHEN class_uid IN ({_objects_of("resources")}) THEN resources END AS resources,
    CASE WHEN class_uid IN ({_objects_of("finding_info")}) THEN {{
        'uid': finding_uid, 'title': finding_title, 'desc': finding_desc, 'types': finding_types
    }} END AS finding_info,
    CASE WHEN class_uid IN ({_objects_of("entity")}) THEN {{
        'uid': entity_uid, 'name': coalesce(entity_name, group_name), 'type': entity_type,
        'data': entity_data
    }} END AS entity,
    CASE WHEN class_uid IN ({_objects_of("app")}) THEN {{
        'name': {_lit(PRODUCT_NAME)}, 'vendor_name': {_lit(VENDOR_NAME)},
        'version': {_lit(PRODUCT_VERSION)}, 'uid': aggregate_id
    }} END AS app,
    CASE WHEN class_uid IN ({_objects_of("service")}) THEN {{'name': {_lit(PRODUCT_NAME)}}} END
        AS service,
    CASE WHEN class_uid IN ({_objects_of("session")}) AND session_uid IS NOT NULL THEN {{
        'uid': session_uid, 'created_time': session_created, 'expiration_time': session_expires
    }} END AS session,
    {{
        'product': {{
            'name': {_lit(PRODUCT_NAME)}, 'vendor_name': {_lit(VENDOR_NAME)},
            'version': {_lit(PRODUCT_VERSION)}
        }},
        'version': {_lit(OCSF_VERSION)},
        'profiles': CASE class_uid {profiles} END,
        'uid': CAST(position AS VARCHAR),
        'sequence': position,
        'correlation_uid': request_id,
        'event_code': event_type,
        'log_name': {_lit(LOG_NAME)},
        'original_time': strftime(recorded_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
    }} AS metadata,
    {{
        'aggregate_type': aggregate_type, 'aggregate_id': aggregate_id, 'version': version,
        'actor_role': actor_role, 'session_id': session_id, 'client_ip': client_ip,
        'proxy_ip': proxy_ip, 'target': target, 'outcome': outcome, 'reason': reason,
        'chain_hash': chain_hash
    }} AS unmapped,
    payload AS raw_data
FROM labelled
"""


# Every record's attributes that are not one of the class-specific objects.
COMMON_COLUMNS = (
    "class_uid",
    "class_name",
    "category_uid",
    "category_name",
    "activity_id",
    "activity_name",
    "type_uid",
    "type_name",
    "time",
    "timezone_offset",
    "severity_id",
    "severity",
    "status_id",
    "status",
    "status_detail",
    "message",
    "count",
    "start_time",
    "end_time",
    "metadata",
    "unmapped",
    "raw_data",
)
OBJECT_COLUMNS = (
    "actor",
    "src_endpoint",
    "user",
    "group",
    "privileges",
    "api",
    "resources",
    "finding_info",
    "entity",
    "app",
    "service",
    "session",
)


def columns_of(ocsf_class: OcsfClass) -> list[str]:
    """The view's columns a record of this class is written with (its OCSF attributes)."""
    return [*COMMON_COLUMNS, *(c for c in OBJECT_COLUMNS if c in ocsf_class.objects)]


def record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One view row as an OCSF record: its class's attributes, absent ones left out."""
    ocsf_class = _CLASS_BY_UID[int(row["class_uid"])]
    out = {}
    for name in columns_of(ocsf_class):
        value = _without_nulls(row.get(name))
        if value is not None:
            out[name] = value
    return out


def _without_nulls(value: Any) -> Any:
    """OCSF leaves absent attributes out (a JSON null is not a string or an object)."""
    if isinstance(value, dict):
        kept = {k: _without_nulls(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        return [v for v in (_without_nulls(item) for item in value) if v is not None]
    return value


_CLASS_BY_UID = {c.uid: c for c in CLASSES}


# -- files -----------------------------------------------------------------------------------

MANIFEST = "ocsf-manifest.json"
MANIFEST_FORMAT = "strongroom-ocsf-v1"
BATCH_ROWS = 20_000
CHUNK_POSITIONS = 500_000


class OcsfExportProblem(ExportProblem):
    """The OCSF files cannot be written as asked; the message says why and what to do.

    An `ExportProblem`, so `strongroom audit export` reports it like the export's own."""


@dataclass(frozen=True)
class _Written:
    position: int  # every event up to here has been considered
    format: str


def ocsf_position(out_dir: Path) -> int:
    """The log position the OCSF files in `out_dir` are complete up to (0: none yet)."""
    written = _read_manifest(out_dir)
    return 0 if written is None else written.position


def write_ocsf(
    connection: duckdb.DuckDBPyConnection,
    out_dir: Path,
    fmt: Format,
    after_position: int | None = None,
) -> int:
    """Write the `ocsf` view's records after `after_position` to `out_dir`; how many.

    `after_position` None: from where the files in `out_dir` end (`ocsf_position`;
    0 in a new directory), so each run adds only what is new.

    One file per OCSF class (Security Lake takes one class per file), each
    `<class>/ocsf-<first>-<last>.<parquet|jsonl>` for the positions the run
    covered, written under a temporary name, fsynced and renamed; then
    `ocsf-manifest.json` records the position the files are complete up to
    (`ocsf_position`). Files of an earlier run past `after_position` (one
    killed part-way, or a rerun from further back) are removed and rewritten,
    so rerunning from the same position gives the same files.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, not {fmt!r}")
    if after_position is None:
        after_position = ocsf_position(out_dir)
    if isinstance(after_position, bool) or not isinstance(after_position, int):
        raise ValueError("after_position: a whole number")
    if after_position < 0:
        raise ValueError("after_position: 0 or more")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = _read_manifest(out_dir)
    if written is not None and written.format != fmt:
        raise OcsfExportProblem(
            f"{out_dir} holds OCSF {written.format} files: write {fmt} to another directory"
        )
    _clear_after(out_dir, after_position)
    head = _head(connection)
    if head <= after_position:
        _write_manifest(out_dir, _Written(head, fmt))
        return 0
    first, last = after_position + 1, head
    files: dict[int, _ClassFile] = {}
    rows = 0
    try:
        # A slice of positions at a time: each is sorted by position in bounded memory
        # (the forensic connection has a memory limit), and appended to its class's file.
        for low in range(after_position, head, CHUNK_POSITIONS):
            high = min(low + CHUNK_POSITIONS, head)
            reader = connection.sql(
                f"SELECT * FROM ocsf WHERE position > {int(low)} AND position <= {int(high)} "
                "ORDER BY position"
            ).to_arrow_reader(BATCH_ROWS)
            for batch in reader:
                for uid, part in _by_class(batch):
                    if uid not in files:
                        files[uid] = _ClassFile(out_dir, _CLASS_BY_UID[uid], fmt, first, last)
                    files[uid].write(part)
                    rows += part.num_rows
        for file in files.values():
            file.close()
    except BaseException:
        for file in files.values():
            file.abandon()
        raise
    for file in files.values():
        file.publish()
    _write_manifest(out_dir, _Written(head, fmt))
    return rows


def _head(connection: duckdb.DuckDBPyConnection) -> int:
    rows = connection.execute("SELECT coalesce(max(position), 0) FROM events").fetchall()
    return int(rows[0][0])


def _by_class(batch: pa.RecordBatch) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The batch's rows of each class, in their order."""
    uids = batch.column("class_uid")
    for uid in pc.unique(uids).to_pylist():
        yield int(uid), batch.filter(pc.equal(uids, uid))


class _ClassFile:
    """One class's file of one run: written under a temporary name until published."""

    def __init__(
        self, out_dir: Path, ocsf_class: OcsfClass, fmt: Format, first: int, last: int
    ) -> None:
        self.ocsf_class = ocsf_class
        self.fmt = fmt
        folder = out_dir / ocsf_class.key
        folder.mkdir(exist_ok=True)
        self.path = folder / f"ocsf-{first:020d}-{last:020d}.{fmt}"
        self.temporary = folder / f".tmp-{self.path.name}"
        self.columns = columns_of(ocsf_class)
        self._parquet: pq.ParquetWriter | None = None
        # Open across the batches of a run; closed by close() or abandon().
        self._text = (
            open(self.temporary, "w", encoding="utf-8")  # noqa: SIM115
            if fmt == "jsonl"
            else None
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if self._text is not None:
            for row in batch.to_pylist():
                line = json.dumps(record(row), ensure_ascii=False, separators=(",", ":"))
                self._text.write(line + "\n")
            return
        table = pa.Table.from_batches([batch]).select(self.columns)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.temporary, table.schema, compression="zstd")
        self._parquet.write_table(table)

    def close(self) -> None:
        """Finish the temporary file, on disk (fsynced)."""
        if self._text is not None:
            self._text.flush()
            os.fsync(self._text.fileno())
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            fsync_file(self.temporary)

    def abandon(self) -> None:
        if self._text is not None:
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
        self.temporary.unlink(missing_ok=True)

    def publish(self) -> None:
        os.replace(self.temporary, self.path)
        fsync_directory(self.path.parent)


def _files(out_dir: Path) -> Iterator[tuple[Path, int, int]]:
    """Every OCSF file in `out_dir` with the positions it covers."""
    for path in out_dir.glob("*/ocsf-*-*.*"):
        parts = path.stem.split("-")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            yield path, int(parts[1]), int(parts[2])


def _clear_after(out_dir: Path, after_position: int) -> None:
    """Make room for a run from `after_position`: it writes everything after it again."""
    for path in out_dir.glob("*/.tmp-ocsf-*"):
        path.unlink()
    later = []
    for path, first, last in _files(out_dir):
        if first <= after_position < last:
            raise OcsfExportProblem(
                f"{path.name} covers positions {first} to {last}: continue from {first - 1} "
                f"or {last} (ocsf_position gives where the files end)"
            )
        if first > after_position:
            later.append(path)
    if later:
        written = _read_manifest(out_dir)
        if written is not None:
            # Say first that the files end earlier, so a crash halfway leaves no gap.
            _write_manifest(
                out_dir, _Written(min(written.position, after_position), written.format)
            )
        for path in later:
            path.unlink()
            fsync_directory(path.parent)


def _read_manifest(out_dir: Path) -> _Written | None:
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != MANIFEST_FORMAT:
            raise OcsfExportProblem(f"{path}: not a Strongroom OCSF manifest")
        return _Written(int(data["position"]), str(data["files"]))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise OcsfExportProblem(f"{path}: unreadable ({error})") from error


def _write_manifest(out_dir: Path, written: _Written) -> None:
    data = {
        "format": MANIFEST_FORMAT,
        "ocsf_version": OCSF_VERSION,
        "files": written.format,
        "position": written.position,
    }
    write_atomically(out_dir / MANIFEST, json.dumps(data, indent=1).encode())


# -- the table, for people ---------------------------------------------------------------------


def mapping_table_markdown() -> str:
    """The mapping as a Markdown table (docs/forensics.md shows this; a test keeps it so)."""

    def activity(rule: Rule) -> str:
        if isinstance(rule.activity, Lookup):
            return rule.activity.doc
        return " or ".join(f"{a.name} ({a.id})" for a in rule.activities())

    def severity(s: Severity | Computed) -> str:
        return f"{s.caption} ({int(s)})" if isinstance(s, Severity) else s.doc

    def status(rule: Rule) -> str:
        if rule.status is not None:
            return rule.status.name
        return "by the outcome" if "failed" in rule.fields else "Success"

    def when(rule: Rule) -> str:
        if rule.when is None:
            return ""
        action = rule.when.rpartition("= ")[2].strip("'")
        return f" (action `{action}`)"

    lines = [
        "| event type | OCSF class | activity | severity | status |",
        "|---|---|---|---|---|",
    ]
    for rule in RULES:
        lines.append(
            f"| `{rule.event_type}`{when(rule)} | {rule.ocsf.name} ({rule.ocsf.uid}) "
            f"| {activity(rule)} | {severity(rule.severity)} | {status(rule)} |"
        )
    lines.append("")
    lines.append("| left out on purpose | why |")
    lines.append("|---|---|")
    for excluded in sorted(EXCLUDED.values(), key=lambda e: e.event_type):
        lines.append(f"| `{excluded.event_type}` | {excluded.why} |")
    return "\n".join(lines)
