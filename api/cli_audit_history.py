"""`strongroom audit state-as-of` and `audit org-as-of`: time travel over the history.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every question asked is recorded with who asked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from api.cli_people import logged_in
from api.cli_server import audit_cli
from api.console import AsJson, fail, fields, out, print_json, safe, table

At = Annotated[
    str,
    typer.Option(
        "--at",
        help="A log position (e.g. 1042) or an ISO 8601 time with its UTC offset "
        "(e.g. 2026-11-27T09:00:00Z).",
    ),
]


def checked_at(text: str) -> str:
    """`--at` as the server takes it, or a one-line error and exit 2 (nothing is sent)."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at: neither a log position nor an ISO 8601 time: {text!r}", code=2)
    if moment.tzinfo is None:
        fail(f"--at: a time needs its UTC offset, e.g. {text}Z", code=2)
    return moment.isoformat()


@audit_cli.command("state-as-of")
def state_as_of(
    aggregate: Annotated[str, typer.Argument(help="The aggregate's id (a user, team, alert...).")],
    at: At,
    as_json: AsJson = False,
) -> None:
    """Show an aggregate as it was at a log position or a time (officers; recorded)."""
    try:
        aggregate_id = str(UUID(aggregate))
    except ValueError:
        fail(f"not an aggregate id: {aggregate!r}", code=2)
    when = checked_at(at)
    with logged_in() as client:
        found = client.state_as_of(aggregate_id, when)
    if as_json:
        print_json(found)
        return
    fields(
        {
            "aggregate": found["aggregate_id"],
            "type": found["type"],
            "version": found["version"],
            "as of": _where(found),
            "recorded at": found["recorded_at"],
            "created at": found["created_at"],
            "withheld": found["withheld"] or None,
        }
    )
    out.print()
    fields(found["state"])


@audit_cli.command("org-as-of")
def org_as_of(at: At, as_json: AsJson = False) -> None:
    """Show people, teams and profiles as they were at a log position or a time (recorded)."""
    when = checked_at(at)
    with logged_in() as client:
        organisation = client.organisation_as_of(when)
    if as_json:
        print_json(organisation)
        return
    out.print(f"[bold]The organisation as of {safe(_where(organisation))}[/]", highlight=False)
    _heading("People")
    table(
        ("email", "name", "role", "active", "locked", "permissions", "teams", "sub-admin of"),
        (
            (
                p["email"],
                p["name"],
                p["role"],
                _yes(p["active"]),
                _yes(p["locked"]),
                ", ".join(p["permissions"]),
                _names(p["teams"]),
                _names(p["sub_admin_of"]),
            )
            for p in organisation["people"]
        ),
    )
    _heading("Teams")
    table(
        ("name", "members", "sub-admins", "storage GiB", "VMs", "cores"),
        (
            (
                t["name"],
                _emails(t["members"]),
                _emails(t["sub_admins"]),
                f"{t['quota']['storage_bytes'] / 2**30:g}",
                t["quota"]["vm_count"],
                t["quota"]["cpu_cores"],
            )
            for t in organisation["teams"]
        ),
    )
    _heading("Profiles")
    table(
        ("name", "permissions"),
        ((p["name"], ", ".join(p["permissions"])) for p in organisation["profiles"]),
    )
    for name, rows in organisation.get("more", {}).items():
        # What later capabilities add (projects, certifications): their own columns.
        _heading(name.replace("_", " ").capitalize())
        columns = list(rows[0]) if rows else []
        table(columns, ([row.get(c) for c in columns] for row in rows))


def _where(answer: dict[str, Any]) -> str:
    time = answer.get("as_of_time")
    position = f"position {answer['as_of_position']}"
    return f"{position} ({time})" if time else f"{position} (before anything was recorded)"


def _heading(title: str) -> None:
    out.print()
    out.print(f"[bold]{safe(title)}[/]", highlight=False)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _names(teams: list[dict[str, Any]]) -> str:
    return ", ".join(t["name"] or t["team_id"] for t in teams)


def _emails(people: list[dict[str, Any]]) -> str:
    return ", ".join(p["email"] or p["user_id"] for p in people)
