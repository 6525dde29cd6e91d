"""`strongroom audit breach-scope|lineage|timeline|who-had|logins`: the canned questions.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every question asked is recorded with who asked.
Times and ranges are checked here first (a one-line error, exit 2, nothing sent);
people are named by email, as the server answers.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from api.cli_people import logged_in
from api.cli_server import audit_cli
from api.console import AsJson, fail, out, print_json, safe, table

From = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Window start, included: ISO 8601 with its UTC offset (2026-03-01T09:00:00Z).",
    ),
]
To = Annotated[
    str | None, typer.Option("--to", help="Window end, excluded: ISO 8601 with its UTC offset.")
]
After = Annotated[int, typer.Option(min=0, help="Only events after this log position.")]
Limit = Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")]


def checked_time(option: str, value: str | None) -> str | None:
    """An ISO 8601 time with its offset, as given; else a one-line error and exit 2."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option}: not an ISO 8601 time (e.g. 2026-03-01T09:00:00Z): {value!r}", code=2)
    if moment.tzinfo is None:
        fail(f"{option}: a time needs its UTC offset, e.g. {value.strip()}Z", code=2)
    return moment.isoformat()


def checked_window(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    first, last = checked_time("--from", start), checked_time("--to", end)
    if first and last and datetime.fromisoformat(first) >= datetime.fromisoformat(last):
        fail("--to: must be later than --from", code=2)
    return first, last


def checked_range(option: str, value: str) -> str:
    """A CIDR range (or one address); else a one-line error and exit 2."""
    try:
        return str(ipaddress.ip_network(value.strip()))
    except ValueError as error:
        fail(f"{option}: not a CIDR range such as 10.1.0.0/16 ({error})", code=2)


def heading(text: str, *, gap: bool = False) -> None:
    """A line above a table, after an empty line when `gap` (between a scope's tables)."""
    if gap:
        out.print()
    out.print(f"[bold]{safe(text)}[/]", highlight=False)


def who(row: dict[str, Any], email: str = "actor_email", ident: str = "actor_id") -> str:
    """A person by email; anyone else (anonymous, system:<rule>) by what the record says."""
    return str(row.get(email) or row.get(ident) or "")


def window_text(start: str | None, end: str | None) -> str:
    return f"[{start or 'the beginning'}, {end or 'now'})"


# -- breach scope -----------------------------------------------------------------------------


@audit_cli.command("breach-scope")
def breach_scope(
    actor: Annotated[str | None, typer.Option(help="The actor: user id or email.")] = None,
    session: Annotated[str | None, typer.Option(help="A session id.")] = None,
    ip: Annotated[
        str | None, typer.Option(help="A client address or CIDR range (IPv4 or IPv6).")
    ] = None,
    start: From = None,
    end: To = None,
    as_json: AsJson = False,
) -> None:
    """Everything an actor, a session or a network touched in a window, and what was refused."""
    if actor is None and session is None and ip is None:
        fail("give --actor, --session or --ip", code=2)
    network = checked_range("--ip", ip) if ip is not None else None
    first, last = checked_window(start, end)
    with logged_in() as client:
        scope = client.breach_scope(actor=actor, session=session, ip=network, start=first, end=last)
    if as_json:
        print_json(scope)
        return
    given = ", ".join(
        f"{name} {value}"
        for name, value in (("actor", actor), ("session", session), ("ip", network))
        if value
    )
    heading(f"Breach scope of {given} in {window_text(first, last)}: {scope['events']} events")
    heading("Who acted", gap=True)
    table(
        ("who", "events", "first", "last"),
        ((who(a, "email"), a["count"], a["first_at"], a["last_at"]) for a in scope["actors"]),
    )
    heading("Sessions", gap=True)
    table(
        ("session", "events", "first", "last", "from"),
        (
            (s["session_id"], s["count"], s["first_at"], s["last_at"], ", ".join(s["client_ips"]))
            for s in scope["sessions"]
        ),
    )
    heading("Addresses", gap=True)
    table(
        ("address", "events", "first", "last"),
        ((a["client_ip"], a["count"], a["first_at"], a["last_at"]) for a in scope["addresses"]),
    )
    heading("Touched", gap=True)
    table(
        ("kind", "name", "id", "events", "first", "last"),
        (
            (t["kind"], t["name"] or "", t["id"], t["count"], t["first_at"], t["last_at"])
            for t in scope["touched"]
        ),
    )
    heading("Events by type", gap=True)
    table(("event", "count"), ((c["event_type"], c["count"]) for c in scope["event_counts"]))
    heading("Refused", gap=True)
    table(
        ("at", "who", "action", "on", "why", "from", "position"),
        (
            (
                d["recorded_at"],
                who(d),
                d["action"] or d["event_type"],
                d["target_name"] or d["target"] or "",
                d["reason"] or "",
                d["client_ip"] or "",
                d["position"],
            )
            for d in scope["denied"]
        ),
    )
    if scope["truncated"]:
        heading(f"Cut at the row limit: {', '.join(scope['truncated'])}", gap=True)


# -- lineage and timeline ---------------------------------------------------------------------


def show_history(history: dict[str, Any], relation: str) -> None:
    table(
        ("position", "at", "event", relation, "who", "role", "from", "outcome", "what"),
        (
            (
                r["position"],
                r["recorded_at"],
                r["event_type"],
                r["relation"],
                who(r),
                r["actor_role"] or "",
                r["client_ip"] or "",
                # a refusal's reason here; any other event's reason is in what it says
                f"denied: {r['reason']}" if r["outcome"] == "denied" else r["outcome"],
                r["summary"],
            )
            for r in history["rows"]
        ),
    )
    if history["truncated"]:
        last = history["rows"][-1]["position"]
        heading(f"More follow: --after {last}")


@audit_cli.command("lineage")
def lineage(
    aggregate: Annotated[str, typer.Argument(help="Any aggregate's id (user, team, alert...).")],
    start: From = None,
    end: To = None,
    after: After = 0,
    limit: Limit = 1000,
    as_json: AsJson = False,
) -> None:
    """Everything that happened to an aggregate, and every event about it: who, from where."""
    try:
        aggregate_id = str(UUID(aggregate))
    except ValueError:
        fail(f"not an aggregate id: {aggregate!r}", code=2)
    first, last = checked_window(start, end)
    with logged_in() as client:
        history = client.lineage(aggregate_id, start=first, end=last, after=after, limit=limit)
    if as_json:
        print_json(history)
        return
    kind = history["subject_type"] or "aggregate"
    name = f" {history['subject_name']}" if history["subject_name"] else ""
    heading(f"Lineage of {kind}{name} ({aggregate_id}) in {window_text(first, last)}")
    show_history(history, "of/about")


@audit_cli.command("timeline")
def timeline(
    user: Annotated[str, typer.Argument(help="User id or email.")],
    start: From = None,
    end: To = None,
    after: After = 0,
    limit: Limit = 1000,
    as_json: AsJson = False,
) -> None:
    """What a person did, and what was done to them, in order."""
    first, last = checked_window(start, end)
    with logged_in() as client:
        history = client.timeline(user, start=first, end=last, after=after, limit=limit)
    if as_json:
        print_json(history)
        return
    heading(f"Timeline of {history['subject_name']} in {window_text(first, last)}")
    show_history(history, "by/to")


# -- who had, logins ----------------------------------------------------------------------------


@audit_cli.command("who-had")
def who_had(
    role: Annotated[str | None, typer.Option(help="A role, e.g. sub-admin.")] = None,
    team: Annotated[str | None, typer.Option(help="A team's id or name.")] = None,
    permission: Annotated[str | None, typer.Option(help="A permission, e.g. audit.")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="The moment, ISO 8601 with its UTC offset (default: now)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Who held a role, a team's membership (or sub-admin), or a permission at a moment."""
    if sum(value is not None for value in (role, team, permission)) != 1:
        fail("give exactly one of --role, --team or --permission", code=2)
    moment = checked_time("--at", at)
    with logged_in() as client:
        found = client.who_had(role=role, team=team, permission=permission, at=moment)
    if as_json:
        print_json(found)
        return
    what = found["value_name"] or found["value"]
    heading(f"Who held {found['question']} {what} at {moment or 'now'}: {len(found['holders'])}")
    table(
        ("email", "name", "holding", "since", "granted by", "event", "position"),
        (
            (
                h["email"] or h["user_id"],
                h["name"] or "",
                h["holding"],
                h["since"],
                who(h, "granted_by_email", "granted_by"),
                h["event_type"],
                h["position"],
            )
            for h in found["holders"]
        ),
    )


@audit_cli.command("logins")
def logins(
    cidr: Annotated[str, typer.Option(help="A CIDR range, e.g. 10.1.0.0/16 or 2001:db8::/32.")],
    start: From = None,
    end: To = None,
    as_json: AsJson = False,
) -> None:
    """Logins and refused logins from a network in a window: who, from where, why."""
    network = checked_range("--cidr", cidr)
    first, last = checked_window(start, end)
    with logged_in() as client:
        found = client.logins_from(network, start=first, end=last)
    if as_json:
        print_json(found)
        return
    heading(
        f"Logins from {found['network']} in {window_text(first, last)}: "
        f"{found['allowed']} allowed, {found['denied']} refused"
    )
    table(
        ("at", "email", "from", "outcome", "reason", "session", "position"),
        (
            (
                login["recorded_at"],
                login["email"] or login["user_id"] or "",
                login["client_ip"] or "",
                login["outcome"],
                login["reason"] or "",
                login["session_id"] or "",
                login["position"],
            )
            for login in found["logins"]
        ),
    )
