"""The views forensic SQL is written against, over the exported events.

`events` is every exported row (audit_queries/columns.py) with its `day` and the
acting person's email; the others are the questions officers ask most, already
joined with people's emails and teams' names, so "who" is never a bare id.
A capability adds its views here (`file_access`, `vm_sessions`, …) with
`view(name, sql, doc)`; they are created in the order they are declared (a view
may use the ones before it). A view `<kind>s` with `<kind>_id` and `name` (`projects`)
also names that kind of target in the canned questions' answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str
    sql: str | Callable[[], str]  # a function: built when the view is created
    doc: str
    # Created only for SQL that names it: binding a large view costs every query.
    lazy: bool = False

    def wanted_by(self, sql: str | None) -> bool:
        if not self.lazy:
            return True
        return sql is not None and re.search(rf"\b{self.name}\b", sql, re.IGNORECASE) is not None

    def select(self) -> str:
        return self.sql if isinstance(self.sql, str) else self.sql()


VIEWS: list[View] = []


def view(name: str, sql: str | Callable[[], str], doc: str, *, lazy: bool = False) -> None:
    VIEWS.append(View(name, sql, doc, lazy))


# The exported rows as stored; `events` adds who acted.
BASE = "event_rows"

view(
    "people",
    f"""SELECT aggregate_id AS user_id, payload->>'$.email' AS email,
        payload->>'$.name' AS name, recorded_at AS registered_at
    FROM {BASE} WHERE event_type = 'User.Registered'""",
    "Everyone who ever registered: user_id, email, name, registered_at.",
)
view(
    "teams",
    f"""SELECT aggregate_id AS team_id, payload->>'$.name' AS name, recorded_at AS created_at
    FROM {BASE} WHERE event_type = 'Team.Created'""",
    "Every team ever created: team_id, name, created_at.",
)
view(
    "events",
    f"""SELECT e.*, p.email AS actor_email
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.actor_id""",
    "Every event: the export's columns, its day, and the acting person's email.",
)
view(
    "logins",
    f"""SELECT e.position, e.recorded_at, e.day, e.user_id, p.email, e.client_ip, e.proxy_ip,
        e.session_id, 'allowed' AS outcome, NULL AS reason
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.user_id
    WHERE e.event_type = 'Session.Started'
    UNION ALL
    SELECT e.position, e.recorded_at, e.day, e.user_id, p.email, e.client_ip, e.proxy_ip,
        NULL, 'denied', e.reason
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.user_id
    WHERE e.event_type = 'User.LoginFailed'
    UNION ALL
    SELECT e.position, e.recorded_at, e.day, p.user_id, e.target, e.client_ip, e.proxy_ip,
        NULL, 'denied', e.reason
    FROM {BASE} e LEFT JOIN people p ON p.email = e.target
    WHERE e.event_type = 'DeniedAttempt.Recorded' AND e.payload->>'$.action' = 'login'""",
    "Every login and refused login: who (user_id, email), from where, outcome, reason.",
)
view(
    "denials",
    """SELECT position, recorded_at, day, actor_id, actor_email, actor_role, session_id,
        client_ip, event_type, payload->>'$.action' AS action, target, user_id, team_id, reason
    FROM events
    WHERE outcome = 'denied' AND event_type <> 'Challenge.Used'""",
    "Every refused action, once each: who tried what on which target, and why it was refused.",
)
view(
    "membership_changes",
    f"""SELECT e.position, e.recorded_at, e.day, e.team_id, t.name AS team_name, e.user_id,
        p.email, CASE e.event_type WHEN 'Team.MemberAdded' THEN 'added'
            WHEN 'Team.MemberRemoved' THEN 'removed' ELSE 'sub-admin assigned' END AS change,
        e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.user_id
        LEFT JOIN people a ON a.user_id = e.actor_id LEFT JOIN teams t ON t.team_id = e.team_id
    WHERE e.event_type IN ('Team.MemberAdded', 'Team.MemberRemoved', 'Team.SubAdminAssigned')""",
    "Team membership and sub-admin changes: team, person, change, and who made it.",
)
view(
    "role_changes",
    f"""SELECT e.position, e.recorded_at, e.day, e.user_id, p.email,
        e.payload->>'$.before' AS before, e.payload->>'$.after' AS after,
        e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.user_id
        LEFT JOIN people a ON a.user_id = e.actor_id
    WHERE e.event_type = 'User.RoleChanged'""",
    "Role changes: whose, from and to, and who changed it.",
)
view(
    "permission_changes",
    f"""SELECT e.position, e.recorded_at, e.day, e.user_id, p.email,
        e.payload->'$.before' AS before, e.payload->'$.after' AS after,
        e.payload->'$.granted' AS granted, e.payload->'$.restricted' AS restricted,
        e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN people p ON p.user_id = e.user_id
        LEFT JOIN people a ON a.user_id = e.actor_id
    WHERE e.event_type = 'User.PermissionsChanged'""",
    "Permission changes (profiles, grants such as audit, restrictions): before and after.",
)
view(
    "alerts",
    f"""SELECT r.aggregate_id AS alert_id, r.position, r.recorded_at AS raised_at, r.day,
        r.payload->>'$.rule' AS rule, r.payload->>'$.type' AS type,
        r.payload->>'$.severity' AS severity, r.payload->>'$.message' AS message,
        r.payload->>'$.subject' AS subject, r.payload->>'$.subject_name' AS subject_name,
        r.payload->>'$.actor_name' AS actor_name,
        CAST(r.payload->>'$.source_position' AS BIGINT) AS source_position,
        COALESCE(s.status, 'open') AS status, s.changed_at AS status_changed_at,
        s.actor_id AS status_changed_by, s.note
    FROM {BASE} r LEFT JOIN (
        SELECT aggregate_id, recorded_at AS changed_at, actor_id, payload->>'$.note' AS note,
            CASE event_type WHEN 'Alert.Resolved' THEN 'resolved' ELSE 'acknowledged' END
                AS status
        FROM {BASE} WHERE event_type IN ('Alert.Acknowledged', 'Alert.Resolved')
        QUALIFY row_number() OVER (PARTITION BY aggregate_id ORDER BY position DESC) = 1
    ) s ON s.aggregate_id = r.aggregate_id
    WHERE r.event_type = 'Alert.Raised'""",
    "Every alert raised, with its current status, who changed it last, and the note.",
)


# -- compliance: requirements, levels, certifications, projects, tags ---------------------


def _uuid(path: str, alias: str = "e") -> str:
    """A stored UUID field as canonical text ({"_type_": "uuid_hex", "_data_": ...})."""
    return f"CAST(TRY_CAST({alias}.payload->>'$.{path}._data_' AS UUID) AS VARCHAR)"


def _time(path: str, alias: str = "e") -> str:
    """A stored datetime field ({"_type_": "datetime_iso", "_data_": ...})."""
    return f"TRY_CAST({alias}.payload->>'$.{path}._data_' AS TIMESTAMPTZ)"


def _list(path: str, alias: str = "e") -> str:
    """A stored list of text as VARCHAR[]."""
    return f"CAST({alias}.payload->'$.{path}' AS VARCHAR[])"


view(
    "requirements",
    f"""SELECT c.aggregate_id AS requirement_id, c.payload->>'$.name' AS name,
        coalesce(l.payload->>'$.after.description', c.payload->>'$.description')
            AS description,
        TRY_CAST(CASE WHEN l.aggregate_id IS NULL THEN c.payload->>'$.lifespan_days'
            ELSE l.payload->>'$.after.lifespan_days' END AS INTEGER) AS lifespan_days,
        c.recorded_at AS created_at
    FROM {BASE} c LEFT JOIN (
        SELECT aggregate_id, payload FROM {BASE} WHERE event_type = 'Requirement.Changed'
        QUALIFY row_number() OVER (PARTITION BY aggregate_id ORDER BY position DESC) = 1
    ) l ON l.aggregate_id = c.aggregate_id
    WHERE c.event_type = 'Requirement.Created'""",
    "Every security requirement: requirement_id, name, description and lifespan_days "
    "(as last changed; NULL: no limit), created_at.",
)
view(
    "security_levels",
    f"""SELECT aggregate_id AS security_level_id, payload->>'$.name' AS name,
        recorded_at AS created_at
    FROM {BASE} WHERE event_type = 'SecurityLevel.Created'""",
    "Every security level: security_level_id, name, created_at.",
)
view(
    "projects",
    f"""SELECT e.aggregate_id AS project_id, e.payload->>'$.name' AS name,
        {_uuid("security_level_id")} AS security_level_id, l.name AS security_level,
        {_uuid("parent_id")} AS parent_id,
        CAST(e.payload->>'$.allows_mixing' AS BOOLEAN) AS allows_mixing,
        e.recorded_at AS created_at
    FROM {BASE} e LEFT JOIN security_levels l
        ON l.security_level_id = {_uuid("security_level_id")}
    WHERE e.event_type = 'Project.Created'""",
    "Every project: project_id, name, its security level (id and name), parent_id (a "
    "sub-project's parent), allows_mixing, created_at.",
)
view(
    "certifications",
    f"""SELECT e.position, e.recorded_at, e.day, e.aggregate_id AS certification_id,
        c.user_id, p.email, c.requirement_id, r.name AS requirement,
        CASE e.event_type WHEN 'Certification.Certified' THEN 'certified'
            WHEN 'Certification.Recertified' THEN 'recertified'
            WHEN 'Certification.Decertified' THEN 'decertified' ELSE 'expired' END AS change,
        CASE WHEN e.event_type = 'Certification.Expired' THEN {_time("expired_at")}
            ELSE {_time("expires_at")} END AS expires_at,
        e.reason, e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN (
        SELECT aggregate_id, user_id, {_uuid("requirement_id", "f")} AS requirement_id
        FROM {BASE} f WHERE event_type = 'Certification.Certified'
    ) c ON c.aggregate_id = e.aggregate_id
        LEFT JOIN people p ON p.user_id = c.user_id
        LEFT JOIN requirements r ON r.requirement_id = c.requirement_id
        LEFT JOIN people a ON a.user_id = e.actor_id
    WHERE e.aggregate_type = 'Certification'""",
    "Every certification event: whose (user_id, email), which requirement (id, name), the "
    "change (certified, recertified, decertified, expired), expires_at (the new expiry; "
    "NULL: none; for expired, the expiry that passed), the reason a certification was "
    "withdrawn, and who acted (the expiry process: system:certification-expiry).",
)
view(
    "project_membership",
    f"""SELECT e.position, e.recorded_at, e.day, e.project_id, j.name AS project, e.user_id,
        p.email,
        CASE e.event_type WHEN 'Project.MemberAdded' THEN 'added'
            WHEN 'Project.MemberRemoved' THEN 'removed'
            WHEN 'Project.RestrictionsChanged' THEN 'restrictions changed'
            WHEN 'Project.MemberLapsed' THEN 'lapsed' WHEN 'Project.MemberRestored' THEN 'restored'
            WHEN 'Project.Parked' THEN 'parked' ELSE 'unparked' END AS change,
        CASE e.event_type WHEN 'Project.RestrictionsChanged' THEN {_list("before")} END
            AS restrictions_before,
        CASE e.event_type WHEN 'Project.MemberAdded' THEN {_list("restrictions")}
            WHEN 'Project.RestrictionsChanged' THEN {_list("after")} END AS restrictions,
        e.reason, e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN projects j ON j.project_id = e.project_id
        LEFT JOIN people p ON p.user_id = e.user_id
        LEFT JOIN people a ON a.user_id = e.actor_id
    WHERE e.event_type IN ('Project.MemberAdded', 'Project.MemberRemoved',
        'Project.RestrictionsChanged', 'Project.MemberLapsed', 'Project.MemberRestored',
        'Project.Parked', 'Project.Unparked')""",
    "Project membership and standing: joins (with restrictions), removals, restriction "
    "changes (before and after), lapses and restorations recorded by the compliance "
    "rules (reason: every requirement missing), and parking (user_id NULL: the whole "
    "project), with who acted.",
)
view(
    "project_tags",
    f"""SELECT e.position, e.recorded_at, e.day, e.project_id, j.name AS project,
        CASE e.event_type WHEN 'ResourceTags.Tagged' THEN 'tagged' ELSE 'untagged' END
            AS change,
        o.payload->>'$.kind' AS resource_kind, {_uuid("resource_id", "o")} AS resource_id,
        e.actor_id, a.email AS actor_email
    FROM {BASE} e LEFT JOIN {BASE} o
            ON o.aggregate_id = e.aggregate_id AND o.event_type = 'ResourceTags.Opened'
        LEFT JOIN projects j ON j.project_id = e.project_id
        LEFT JOIN people a ON a.user_id = e.actor_id
    WHERE e.event_type IN ('ResourceTags.Tagged', 'ResourceTags.Untagged')""",
    "Project tags put on and taken off resources: the project, the resource (kind: "
    "file, folder, group or vm; and id), and who acted.",
)


def _ocsf() -> str:
    from audit_queries.ocsf import ocsf_view_sql

    return ocsf_view_sql()


view(
    "ocsf",
    _ocsf,
    "Every event as an Open Cybersecurity Schema Framework 1.1 record (docs/forensics.md).",
    lazy=True,
)
