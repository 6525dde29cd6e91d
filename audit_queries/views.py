"""The views forensic SQL is written against, over the exported events.

`events` is every exported row (audit_queries/columns.py) with its `day` and the
acting person's email; the others are the questions officers ask most, already
joined with people's emails and teams' names, so "who" is never a bare id.
A capability adds its views here (`file_access`, `vm_sessions`, …) with
`view(name, sql, doc)`; they are created in the order they are declared.
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


def _ocsf() -> str:
    from audit_queries.ocsf import ocsf_view_sql

    return ocsf_view_sql()


view(
    "ocsf",
    _ocsf,
    "Every event as an Open Cybersecurity Schema Framework 1.1 record (docs/forensics.md).",
    lazy=True,
)
