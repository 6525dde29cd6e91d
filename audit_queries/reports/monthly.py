"""The monthly compliance report: one calendar month in UTC, up to one log position.

Sections, in order (each registered in audit_queries/reports/sections.py's
registry, which later capabilities extend):

- overview: the month's key figures;
- activity: events per day and by type, and who acted;
- denials: refused attempts per reason, per person, per day, and each one;
- alerts: raised by severity, how they were handled (open, acknowledged,
  resolved), time to resolve, and by whom;
- changes: roles, permissions and team memberships: whose, what, by whom;
- logins: successes and refusals by network (IPv4 /24, IPv6 /48) and person;
- then the capabilities' own (audit_queries/reports/compliance.py: certifications,
  lapsed members, parked projects).

Everyone appears by email, with their name where the record has one; an actor
that is not a person (anonymous, system:<rule>) appears by its id. Alerts are
those raised in the month, handled as of the report's position (which can be
after the month's end: a report taken in December shows how November's alerts
were resolved).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from audit_queries.reports.model import Cell, Chart, Report, Section, Series, Table
from audit_queries.reports.networks import network_of
from audit_queries.reports.sections import (
    Reader,
    Scope,
    available,
    in_period,
    monthly_section,
)
from domain.alerts import SEVERITIES
from domain.reports import Month

# Event families drawn separately in the activity chart; the rest are "other".
CHART_FAMILIES = 7
# Reasons and networks drawn in a chart (all are in the tables).
CHART_BARS = 15
BIG_LIMIT = 1_000_000

PERIOD = "recorded_at >= $start AND recorded_at < $end AND position <= $upto"
# The UTC day of an event (the connection's time zone is UTC).
DAY = "CAST(recorded_at AS DATE)"


# One row per refusal: who (the signed-in person who tried; else the account a
# login or session was refused for; else the email tried; "anonymous" for the
# rate limit's folded requests; else the actor's id),
# on what, why, and how many attempts it stands for (a rate-limit record counts
# the requests it folded).
REFUSED = f"""WITH refused AS (
    SELECT d.position, d.recorded_at, CAST(d.recorded_at AS DATE) AS day, d.reason, d.client_ip,
        coalesce(d.action, CASE d.event_type WHEN 'User.LoginFailed' THEN 'login'
            WHEN 'ThrottledRequests.Counted' THEN 'rate-limited requests'
            ELSE d.event_type END) AS action,
        d.actor_email IS NOT NULL AS signed_in,
        CASE WHEN d.actor_email IS NOT NULL THEN d.actor_email
            WHEN d.event_type = 'ThrottledRequests.Counted' THEN 'anonymous'
            ELSE coalesce(u.email, t.email,
                CASE WHEN d.action = 'login' THEN d.target END, d.actor_id) END AS email,
        CASE WHEN d.actor_email IS NOT NULL THEN a.name ELSE coalesce(u.name, t.name) END AS name,
        coalesce(u.email, t.email, tm.name, d.target) AS target,
        CASE WHEN d.event_type = 'ThrottledRequests.Counted'
            THEN coalesce(TRY_CAST(e.payload->>'$.refused' AS BIGINT), 1) ELSE 1 END AS attempts
    FROM denials d
        LEFT JOIN people a ON a.user_id = d.actor_id
        LEFT JOIN people u ON u.user_id = d.user_id
        LEFT JOIN people t ON t.email = d.target
        LEFT JOIN teams tm ON tm.team_id = d.team_id
        LEFT JOIN events e ON e.position = d.position
            AND d.event_type = 'ThrottledRequests.Counted'
    WHERE {in_period("d")})
"""


def gather_monthly(
    connection: duckdb.DuckDBPyConnection,
    month: Month,
    *,
    generated_at: datetime,
    generated_by: str,
    upto: int | None = None,
) -> Report:
    """The monthly report for `month`, from the export up to position `upto` (default: all)."""
    reader = Reader(connection)
    position, chain_hash = head(reader, upto)
    scope = Scope(month.start, month.end, position)
    sections = [spec.build(reader, scope) for spec in available(reader)]
    return Report(
        kind="monthly",
        title=f"Monthly compliance report, {month}",
        name=str(month),
        generated_at=generated_at,
        generated_by=generated_by,
        position=position,
        chain_hash=chain_hash,
        sections=sections,
        period_start=month.start,
        period_end=month.end,
    )


def head(reader: Reader, upto: int | None = None) -> tuple[int, str]:
    """The last exported position (at most `upto`) and its chain hash; (0, "") when empty."""
    found = reader.rows(
        "SELECT position, chain_hash FROM events WHERE position <= $upto "
        "ORDER BY position DESC LIMIT 1",
        {"upto": upto if upto is not None else 2**63 - 1},
    ).rows
    return (int(found[0][0]), str(found[0][1])) if found else (0, "")


def days_of(scope: Scope) -> list[date]:
    first = scope.start.date()
    count = calendar.monthrange(first.year, first.month)[1]
    return [first + timedelta(days=n) for n in range(count)]


# -- overview -----------------------------------------------------------------------------


@monthly_section("overview", "Overview")
def _overview(reader: Reader, scope: Scope) -> Section:
    figures = reader.rows(
        REFUSED
        + f"""SELECT
            (SELECT count(*) FROM events WHERE {PERIOD}) AS events,
            (SELECT count(DISTINCT actor_id) FROM events
                WHERE {PERIOD} AND actor_email IS NOT NULL) AS people_who_acted,
            (SELECT count(*) FROM logins WHERE {PERIOD} AND outcome = 'allowed') AS logins,
            (SELECT count(*) FROM logins WHERE {PERIOD} AND outcome = 'denied')
                AS refused_logins,
            (SELECT coalesce(sum(attempts), 0) FROM refused) AS refused_attempts,
            (SELECT count(*) FROM alerts WHERE raised_at >= $start AND raised_at < $end
                AND position <= $upto) AS alerts_raised,
            (SELECT count(*) FROM role_changes WHERE {PERIOD}) AS role_changes,
            (SELECT count(*) FROM permission_changes WHERE {PERIOD}) AS permission_changes,
            (SELECT count(*) FROM membership_changes WHERE {PERIOD}) AS membership_changes""",
        scope.parameters(),
    )
    values = figures.rows[0]
    labels = {
        "events": "events recorded",
        "people_who_acted": "people who acted",
        "logins": "successful logins",
        "refused_logins": "refused logins",
        "refused_attempts": "refused attempts (logins included)",
        "alerts_raised": "alerts raised",
        "role_changes": "role changes",
        "permission_changes": "permission changes",
        "membership_changes": "team membership changes",
    }
    rows: list[tuple[Cell, ...]] = [
        (labels[name], int(value)) for name, value in zip(figures.columns, values, strict=True)
    ]
    return Section(
        "overview",
        "Overview",
        "The month at a glance; each figure is detailed in its section below.",
        tables=[Table("figures", "Key figures", ["figure", "value"], rows)],
    )


# -- activity -----------------------------------------------------------------------------


@monthly_section("activity", "Activity")
def _activity(reader: Reader, scope: Scope) -> Section:
    parameters = scope.parameters()
    per_day = reader.rows(
        f"""SELECT {DAY} AS day, event_type, count(*) AS events FROM events WHERE {PERIOD}
        GROUP BY ALL ORDER BY day, event_type""",
        parameters,
        limit=BIG_LIMIT,
    )
    by_type = reader.rows(
        f"""SELECT event_type, count(*) AS events, count(DISTINCT actor_id) AS actors
        FROM events WHERE {PERIOD} GROUP BY event_type ORDER BY events DESC, event_type""",
        parameters,
        limit=BIG_LIMIT,
    )
    by_person = reader.rows(
        f"""SELECT coalesce(p.email, e.actor_id) AS email, p.name, count(*) AS events,
            count(DISTINCT CAST(e.recorded_at AS DATE)) AS active_days
        FROM events e LEFT JOIN people p ON p.user_id = e.actor_id
        WHERE {in_period("e")}
        GROUP BY ALL ORDER BY events DESC, email""",
        parameters,
        limit=BIG_LIMIT,
    )
    families = reader.rows(
        f"""SELECT {DAY} AS day, aggregate_type, count(*) AS events FROM events
        WHERE {PERIOD} GROUP BY ALL""",
        parameters,
        limit=BIG_LIMIT,
    )
    return Section(
        "activity",
        "Activity",
        "Every event recorded in the month: per day and type, by type, and by who acted.",
        charts=[_activity_chart(families.rows, days_of(scope))],
        tables=[
            per_day.table("per-day", "Events per day, by type"),
            by_type.table("by-type", "Events by type (actors: distinct accounts or systems)"),
            by_person.table("by-person", "Events by who acted"),
        ],
    )


def _activity_chart(rows: list[tuple[Any, ...]], days: list[date]) -> Chart:
    totals: dict[str, int] = defaultdict(int)
    for _, family, count in rows:
        totals[str(family)] += int(count)
    shown = sorted(totals, key=lambda f: (-totals[f], f))[:CHART_FAMILIES]
    names = [*shown, "other"] if len(totals) > len(shown) else shown
    counts = {name: [0.0] * len(days) for name in names}
    index = {day: n for n, day in enumerate(days)}
    for day, family, count in rows:
        name = str(family) if family in shown else "other"
        if day in index:
            counts[name][index[day]] += int(count)
    return Chart(
        "stacked",
        "Events per day, by kind of record",
        [str(day.day) for day in days],
        [Series(name, counts[name]) for name in names],
        y_label="events",
    )


# -- denials ------------------------------------------------------------------------------


@monthly_section("denials", "Denials")
def _denials(reader: Reader, scope: Scope) -> Section:
    parameters = scope.parameters()
    per_reason = reader.rows(
        REFUSED
        + """SELECT reason, sum(attempts) AS attempts, count(DISTINCT email) AS people
        FROM refused GROUP BY reason ORDER BY attempts DESC, reason""",
        parameters,
        limit=BIG_LIMIT,
    )
    per_person = reader.rows(
        REFUSED
        + """SELECT email, any_value(name) AS name,
            coalesce(sum(attempts) FILTER (WHERE signed_in), 0) AS while_signed_in,
            coalesce(sum(attempts) FILTER (WHERE NOT signed_in), 0) AS without_session,
            string_agg(DISTINCT reason, '; ' ORDER BY reason) AS reasons
        FROM refused GROUP BY email
        ORDER BY while_signed_in + without_session DESC, email""",
        parameters,
        limit=BIG_LIMIT,
    )
    per_day = dict(
        reader.rows(
            REFUSED + "SELECT day, sum(attempts) FROM refused GROUP BY day", parameters
        ).rows
    )
    each = reader.rows(
        REFUSED
        + """SELECT recorded_at, email, name, action, target, reason, client_ip, attempts
        FROM refused ORDER BY position""",
        parameters,
    )
    days = days_of(scope)
    reasons = per_reason.rows[:CHART_BARS]
    return Section(
        "denials",
        "Denials",
        "Refused attempts and why, per reason and per person. while_signed_in: what the "
        "person tried and was refused; without_session: logins and sessions refused for "
        "that account (or for the email tried); anonymous: requests refused by the rate "
        "limit (each record counts the requests it folded).",
        charts=[
            Chart(
                "bar",
                "Refused attempts by reason",
                [str(r[0]) for r in reasons],
                [Series("attempts", [float(r[1]) for r in reasons])],
                y_label="attempts",
            ),
            Chart(
                "line",
                "Refused attempts per day",
                [str(day.day) for day in days],
                [Series("attempts", [float(per_day.get(day, 0)) for day in days])],
                y_label="attempts",
            ),
        ],
        tables=[
            per_reason.table("per-reason", "Refused attempts per reason"),
            per_person.table("per-person", "Refused attempts per person"),
            each.table("each", "Each refusal"),
        ],
    )


# -- alerts -------------------------------------------------------------------------------

# Each alert raised in the month, with who acknowledged and resolved it (up to
# the report's position) and how long resolving took.
CASES = """WITH raised AS (
    SELECT alert_id, position, raised_at, severity, type, message, subject, subject_name
    FROM alerts WHERE raised_at >= $start AND raised_at < $end AND position <= $upto),
handled AS (
    SELECT aggregate_id AS alert_id, event_type, recorded_at, actor_id,
        payload->>'$.note' AS note
    FROM events WHERE event_type IN ('Alert.Acknowledged', 'Alert.Resolved')
        AND position <= $upto),
cases AS (
    SELECT r.*, ack.recorded_at AS acknowledged_at, ack.actor_id AS acknowledged_by,
        res.recorded_at AS resolved_at, res.actor_id AS resolved_by, res.note AS resolution_note,
        CASE WHEN res.recorded_at IS NOT NULL THEN 'resolved'
            WHEN ack.recorded_at IS NOT NULL THEN 'acknowledged' ELSE 'open' END AS status,
        round((epoch(res.recorded_at) - epoch(r.raised_at)) / 3600, 2) AS hours_to_resolve
    FROM raised r
        LEFT JOIN handled ack ON ack.alert_id = r.alert_id
            AND ack.event_type = 'Alert.Acknowledged'
        LEFT JOIN handled res ON res.alert_id = r.alert_id
            AND res.event_type = 'Alert.Resolved')
"""
STATUSES = ("open", "acknowledged", "resolved")


@monthly_section("alerts", "Alerts")
def _alerts(reader: Reader, scope: Scope) -> Section:
    parameters = scope.parameters()
    found = reader.rows(
        CASES
        + """SELECT severity, count(*) AS raised,
            count(*) FILTER (WHERE status = 'open') AS open,
            count(*) FILTER (WHERE status = 'acknowledged') AS acknowledged,
            count(*) FILTER (WHERE status = 'resolved') AS resolved,
            round(median(hours_to_resolve), 2) AS median_hours_to_resolve,
            max(hours_to_resolve) AS max_hours_to_resolve
        FROM cases GROUP BY severity""",
        parameters,
    )
    by_severity = {row[0]: row for row in found.rows}
    order = [*reversed(SEVERITIES), *sorted(set(by_severity) - set(SEVERITIES))]
    severity_rows: list[tuple[Cell, ...]] = [
        by_severity.get(severity, (severity, 0, 0, 0, 0, None, None)) for severity in order
    ]
    handlers = reader.rows(
        CASES
        + """, handlers AS (
            SELECT acknowledged_by AS actor_id, 1 AS acknowledged, 0 AS resolved
            FROM cases WHERE acknowledged_by IS NOT NULL
            UNION ALL
            SELECT resolved_by, 0, 1 FROM cases WHERE resolved_by IS NOT NULL)
        SELECT coalesce(p.email, h.actor_id) AS email, p.name,
            sum(h.acknowledged) AS acknowledged, sum(h.resolved) AS resolved
        FROM handlers h LEFT JOIN people p ON p.user_id = h.actor_id
        GROUP BY ALL ORDER BY resolved DESC, acknowledged DESC, email""",
        parameters,
    )
    each = reader.rows(
        CASES
        + """SELECT c.raised_at, c.severity, c.type, c.message,
            coalesce(s.email, c.subject_name, c.subject) AS subject, c.status,
            coalesce(ak.email, c.acknowledged_by) AS acknowledged_by, c.acknowledged_at,
            coalesce(rs.email, c.resolved_by) AS resolved_by, c.resolved_at,
            c.hours_to_resolve, c.resolution_note
        FROM cases c LEFT JOIN people s ON s.user_id = c.subject
            LEFT JOIN people ak ON ak.user_id = c.acknowledged_by
            LEFT JOIN people rs ON rs.user_id = c.resolved_by
        ORDER BY c.position""",
        parameters,
    )
    return Section(
        "alerts",
        "Alerts",
        "Alerts raised in the month by severity, and how they were handled as of the "
        "report's position: open, acknowledged or resolved, how long resolving took "
        "(hours), and by whom.",
        charts=[
            Chart(
                "stacked",
                "Alerts by severity and status",
                [str(row[0]) for row in severity_rows],
                [
                    Series(status, [float(row[n + 2]) for row in severity_rows])  # type: ignore[arg-type]
                    for n, status in enumerate(STATUSES)
                ],
                y_label="alerts",
            ),
            Chart(
                "bar",
                "Alerts handled, by officer",
                [str(row[0]) for row in handlers.rows[:CHART_BARS]],
                [
                    Series("acknowledged", [float(r[2]) for r in handlers.rows[:CHART_BARS]]),
                    Series("resolved", [float(r[3]) for r in handlers.rows[:CHART_BARS]]),
                ],
                y_label="alerts",
            ),
        ],
        tables=[
            Table("by-severity", "Alerts by severity", found.columns, severity_rows),
            handlers.table("by-officer", "Alerts acknowledged and resolved, by officer"),
            each.table("each", "Each alert"),
        ],
    )


# -- role and membership changes ----------------------------------------------------------


@monthly_section("changes", "Role and membership changes")
def _changes(reader: Reader, scope: Scope) -> Section:
    parameters = scope.parameters()
    roles = reader.rows(
        f"""SELECT r.recorded_at, coalesce(p.email, r.user_id) AS email, p.name, r.before,
            r.after, coalesce(a.email, r.actor_id) AS by_email, a.name AS by_name
        FROM role_changes r LEFT JOIN people p ON p.user_id = r.user_id
            LEFT JOIN people a ON a.user_id = r.actor_id
        WHERE {in_period("r")} ORDER BY r.position""",
        parameters,
    )
    permissions = reader.rows(
        f"""SELECT c.recorded_at, coalesce(p.email, c.user_id) AS email, p.name,
            array_to_string(CAST(c.granted AS VARCHAR[]), ', ') AS granted,
            array_to_string(CAST(c.restricted AS VARCHAR[]), ', ') AS restricted,
            array_to_string(CAST(c.before AS VARCHAR[]), ', ') AS before,
            array_to_string(CAST(c.after AS VARCHAR[]), ', ') AS after,
            coalesce(a.email, c.actor_id) AS by_email, a.name AS by_name
        FROM permission_changes c LEFT JOIN people p ON p.user_id = c.user_id
            LEFT JOIN people a ON a.user_id = c.actor_id
        WHERE {in_period("c")} ORDER BY c.position""",
        parameters,
    )
    members = reader.rows(
        f"""SELECT m.recorded_at, coalesce(m.team_name, m.team_id) AS team,
            coalesce(p.email, m.user_id) AS email, p.name, m.change,
            coalesce(a.email, m.actor_id) AS by_email, a.name AS by_name
        FROM membership_changes m LEFT JOIN people p ON p.user_id = m.user_id
            LEFT JOIN people a ON a.user_id = m.actor_id
        WHERE {in_period("m")} ORDER BY m.position""",
        parameters,
    )
    kinds: dict[str, int] = {"role changed": len(roles.rows)}
    kinds["permissions changed"] = len(permissions.rows)
    for change in ("added", "removed", "sub-admin assigned"):
        kinds[f"team member {change}" if change != "sub-admin assigned" else change] = sum(
            1 for row in members.rows if row[4] == change
        )
    return Section(
        "changes",
        "Role and membership changes",
        "Who changed whose role, permissions and team memberships.",
        charts=[
            Chart(
                "bar",
                "Changes by kind",
                list(kinds),
                [Series("changes", [float(v) for v in kinds.values()])],
                y_label="changes",
            )
        ],
        tables=[
            roles.table("roles", "Role changes"),
            permissions.table("permissions", "Permission changes"),
            members.table("memberships", "Team membership changes"),
        ],
    )


# -- logins by network --------------------------------------------------------------------


@monthly_section("logins", "Logins by network")
def _logins(reader: Reader, scope: Scope) -> Section:
    found = reader.rows(
        f"""SELECT l.client_ip, l.outcome, coalesce(p.email, l.email, l.user_id) AS email,
            p.name, l.reason, count(*) AS logins
        FROM logins l LEFT JOIN people p ON p.user_id = l.user_id
        WHERE {in_period("l")} GROUP BY ALL""",
        scope.parameters(),
        limit=BIG_LIMIT,
    )
    networks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    people: dict[str, set[str]] = defaultdict(set)
    per_person: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    names: dict[str, str | None] = {}
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    for client_ip, outcome, email, name, reason, count in found.rows:
        network, who = network_of(client_ip), str(email or "(unknown)")
        refused = int(outcome != "allowed")
        networks[network][refused] += count
        people[network].add(who)
        per_person[(network, who)][refused] += count
        names[who] = names.get(who) or name
        if reason:
            reasons[(network, who)].add(str(reason))
    order = sorted(networks, key=lambda n: (-sum(networks[n]), n))
    network_rows: list[tuple[Cell, ...]] = [
        (network, networks[network][0], networks[network][1], len(people[network]))
        for network in order
    ]
    rank = {network: n for n, network in enumerate(order)}
    person_rows: list[tuple[Cell, ...]] = []
    for (network, who), counts in sorted(per_person.items(), key=lambda i: (rank[i[0][0]], i[0])):
        why = "; ".join(sorted(reasons[(network, who)]))
        person_rows.append((network, who, names.get(who), counts[0], counts[1], why))
    shown = order[:CHART_BARS]
    note = "Only part of the month's logins could be read." if found.truncated else ""
    return Section(
        "logins",
        "Logins by network",
        "Successful and refused logins by client network (IPv4 /24, IPv6 /48), and by person.",
        charts=[
            Chart(
                "stacked",
                "Logins by network",
                shown,
                [
                    Series("successes", [float(networks[n][0]) for n in shown]),
                    Series("refusals", [float(networks[n][1]) for n in shown]),
                ],
                y_label="logins",
            )
        ],
        tables=[
            Table(
                "by-network",
                "Logins by network",
                ["network", "successes", "refusals", "people"],
                network_rows,
                note,
            ),
            Table(
                "by-person",
                "Logins by network and person",
                ["network", "email", "name", "successes", "refusals", "refusal_reasons"],
                person_rows,
                note,
            ),
        ],
    )


# The capabilities' sections, after the core ones: each registers itself when imported.
from audit_queries.reports import compliance  # noqa: E402, F401
