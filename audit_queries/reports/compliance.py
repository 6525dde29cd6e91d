"""The monthly report's compliance section: certifications, lapsed members, parked projects.

What changed in the month, from the compliance capability's views
(audit_queries/views.py): certifications granted, withdrawn and expired
(`certifications`), members the compliance rules recorded as lapsed (with every
requirement they lacked) or restored, and projects parked or unparked
(`project_membership`). People appear by email with their name; the expiry
process by its id, `system:certification-expiry`. An expiry counts in the month
the process recorded it (`expires_at` says when it passed; the two differ only
if the process was stopped across the month's end).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit_queries.reports.model import Cell, Chart, Section, Series, Table
from audit_queries.reports.sections import Reader, Rows, Scope, in_period, monthly_section

# Requirements and projects drawn in a chart (all are in the tables).
CHART_BARS = 15
# How each certification change counts in the figures and the chart.
CERTIFICATION_KINDS = {
    "certified": "granted",
    "recertified": "granted",
    "decertified": "withdrawn",
    "expired": "expired",
}


@monthly_section("compliance", "Compliance", requires=("certifications", "project_membership"))
def _compliance(reader: Reader, scope: Scope) -> Section:
    parameters = scope.parameters()
    certifications = reader.rows(
        f"""SELECT c.recorded_at, coalesce(c.email, c.user_id) AS email, p.name,
            coalesce(c.requirement, c.requirement_id) AS requirement, c.change, c.expires_at,
            c.reason, coalesce(c.actor_email, c.actor_id) AS by_email, a.name AS by_name
        FROM certifications c LEFT JOIN people p ON p.user_id = c.user_id
            LEFT JOIN people a ON a.user_id = c.actor_id
        WHERE {in_period("c")} ORDER BY c.position""",
        parameters,
    )
    standing = reader.rows(
        f"""SELECT m.recorded_at, coalesce(m.project, m.project_id) AS project,
            coalesce(m.email, m.user_id) AS email, p.name, m.change, m.reason,
            coalesce(m.actor_email, m.actor_id) AS by_email, a.name AS by_name
        FROM project_membership m LEFT JOIN people p ON p.user_id = m.user_id
            LEFT JOIN people a ON a.user_id = m.actor_id
        WHERE {in_period("m")} AND m.change IN ('lapsed', 'restored') ORDER BY m.position""",
        parameters,
    )
    parking = reader.rows(
        f"""SELECT m.recorded_at, coalesce(m.project, m.project_id) AS project, m.change,
            m.reason, coalesce(m.actor_email, m.actor_id) AS by_email, a.name AS by_name
        FROM project_membership m LEFT JOIN people a ON a.user_id = m.actor_id
        WHERE {in_period("m")} AND m.change IN ('parked', 'unparked') ORDER BY m.position""",
        parameters,
    )
    return Section(
        "compliance",
        "Compliance",
        "Certifications granted, withdrawn and expired in the month; members whose "
        "projects stopped granting them access because a requirement was no longer met "
        "(lapsed, with every requirement missing) or who were made good again (restored); "
        "and projects parked or unparked.",
        charts=[_by_requirement(certifications), _by_project(standing)],
        tables=[
            _figures(certifications, standing, parking),
            certifications.table("certifications", "Certification changes"),
            standing.table("standing", "Members lapsed and restored"),
            parking.table("parking", "Projects parked and unparked"),
        ],
    )


def _figures(certifications: Rows, standing: Rows, parking: Rows) -> Table:
    kinds = _count(certifications, "change")
    members = _count(standing, "change")
    projects = _count(parking, "change")
    lapsed_people = {row["email"] for row in standing.dicts() if row["change"] == "lapsed"}
    rows: list[tuple[Cell, ...]] = [
        ("certifications granted", kinds["certified"] + kinds["recertified"]),
        ("certifications withdrawn", kinds["decertified"]),
        ("certifications expired", kinds["expired"]),
        ("lapses recorded", members["lapsed"]),
        ("people who lapsed", len(lapsed_people)),
        ("members restored", members["restored"]),
        ("projects parked", projects["parked"]),
        ("projects unparked", projects["unparked"]),
    ]
    return Table("figures", "Compliance figures", ["figure", "value"], rows)


def _count(rows: Rows, column: str) -> defaultdict[Any, int]:
    counts: defaultdict[Any, int] = defaultdict(int)
    for row in rows.dicts():
        counts[row[column]] += 1
    return counts


def _by_requirement(certifications: Rows) -> Chart:
    kinds = list(dict.fromkeys(CERTIFICATION_KINDS.values()))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(kinds, 0))
    for row in certifications.dicts():
        counts[str(row["requirement"])][CERTIFICATION_KINDS[row["change"]]] += 1
    shown = sorted(counts, key=lambda r: (-sum(counts[r].values()), r))[:CHART_BARS]
    return Chart(
        "stacked",
        "Certification changes by requirement",
        shown,
        [Series(kind, [float(counts[r][kind]) for r in shown]) for kind in kinds],
        y_label="certifications",
    )


def _by_project(standing: Rows) -> Chart:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"lapsed": 0, "restored": 0})
    for row in standing.dicts():
        counts[str(row["project"])][row["change"]] += 1
    shown = sorted(counts, key=lambda p: (-counts[p]["lapsed"], p))[:CHART_BARS]
    return Chart(
        "bar",
        "Members lapsed and restored, by project",
        shown,
        [
            Series(change, [float(counts[p][change]) for p in shown])
            for change in ("lapsed", "restored")
        ],
        y_label="members",
    )
