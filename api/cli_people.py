"""`strongroom login|logout|user|team|profile|alerts|dashboard`: the client commands.

These commands are clients: they sign with keys kept in a local key file and
talk to the server through the client SDK, exactly as any other REST client.
An officer runs many of them in a row, so each imports only what it uses:
httpx when it talks HTTP, cryptography when it touches keys, never the server side.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from api.console import AsJson, err, fail, fields, is_terminal, out, print_json, safe, table
from api.passphrase import passphrase
from client.errors import ApiError, KeyFileError
from client.session_file import (
    SavedSession,
    default_key_file,
    forget_session,
    load_session,
    save_session,
)

if TYPE_CHECKING:
    from client.api import StrongroomClient

DEFAULT_SERVER = "http://127.0.0.1:8000"


user_cli = typer.Typer(help="Register, list and administer user accounts.", no_args_is_help=True)
team_cli = typer.Typer(
    help="Create teams, manage members, sub-admins and quotas.", no_args_is_help=True
)
profile_cli = typer.Typer(
    help="Define and list user profiles (permission templates).", no_args_is_help=True
)

Server = Annotated[str, typer.Option(help="The Strongroom server.", envvar="STRONGROOM_SERVER")]
KeyFile = Annotated[
    Path | None, typer.Option(help="Your key file (default: keys/EMAIL.key under the home).")
]
Who = Annotated[str, typer.Argument(help="User id or email.")]
WhichTeam = Annotated[str, typer.Argument(help="Team id or name.")]


def home() -> Path:
    return Path(os.environ.get("STRONGROOM_HOME") or Path.home() / ".strongroom").expanduser()


@contextmanager
def api_errors() -> Iterator[None]:
    """Server refusals and connection trouble as one line and a non-zero exit."""
    import httpx  # everything in this block talks HTTP

    try:
        yield
    except ApiError as error:
        if error.status == 401:
            fail("not logged in, or the session ended: run `strongroom login`")
        detail = error.detail
        if isinstance(detail, list):
            detail = "; ".join(f"{d.get('field')}: {d.get('reason')}" for d in detail)
        fail(f"{error.status}: {detail}")
    except httpx.TransportError as error:
        fail(f"cannot reach the server: {error}", code=2)
    except KeyFileError as error:
        fail(str(error), code=2)


def connect(server: str, token: str | None = None) -> StrongroomClient:
    from client.api import StrongroomClient

    return StrongroomClient(server, token=token)


@contextmanager
def logged_in() -> Iterator[StrongroomClient]:
    """A client with the saved session (exit 1 when there is none)."""
    saved = load_session(home())
    if saved is None:
        fail("not logged in: run `strongroom login --email you@example.edu`")
    with api_errors(), connect(saved.server, saved.token) as client:
        yield client


def user_ref(client: StrongroomClient, ref: str) -> str:
    """A user id from an id or an email you can see."""
    try:
        return str(UUID(ref))
    except ValueError:
        pass
    for user in client.users():
        if user["email"] == ref.strip().lower():
            return str(user["id"])
    fail(f"no user you can see has the email {ref}")


def team_ref(client: StrongroomClient, ref: str) -> str:
    """A team id from an id or a name you can see."""
    try:
        return str(UUID(ref))
    except ValueError:
        pass
    for team in client.teams():
        if team["name"].lower() == ref.strip().lower():
            return str(team["id"])
    fail(f"no team you can see is named {ref}")


def show_users(users: list[dict[str, Any]]) -> None:
    table(
        ("id", "email", "name", "role", "active", "locked", "teams", "permissions"),
        (
            (
                u["id"],
                u["email"],
                u["name"],
                u["role"],
                u["active"],
                u["locked"],
                len(u["teams"]),
                ",".join(u["permissions"]),
            )
            for u in users
        ),
    )


def show(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(record)
    else:
        fields(record)


# -- session ------------------------------------------------------------------------------


def login(
    email: Annotated[str, typer.Option(help="Your account's email.")],
    key_file: KeyFile = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Log in by signing a server challenge with your key.

    The key file's passphrase is asked for on the terminal, or read from
    STRONGROOM_PASSPHRASE. The session is kept under the home (STRONGROOM_HOME).
    """
    from client.keys import UserKeys

    with api_errors():
        keys = UserKeys.load(key_file or default_key_file(home(), email), passphrase(confirm=False))
        with connect(server) as client:
            session = client.login(keys, email)
    save_session(
        home(), SavedSession(server, session["token"], email, session["user_id"], session["role"])
    )
    out.print(
        f"Logged in as {safe(email)} ({safe(session['role'])}) until {safe(session['expires_at'])}"
    )


def logout() -> None:
    """End the current session, here and on the server."""
    if load_session(home()) is not None:
        with logged_in() as client:
            client.logout()
    forget_session(home())
    out.print("Logged out.")


# -- users --------------------------------------------------------------------------------


@user_cli.command("register")
def user_register(
    email: Annotated[str, typer.Option(help="The new account's email.")],
    name: Annotated[str, typer.Option(help="The person's name.")],
    key_file: KeyFile = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Make your keys here, save them encrypted, and register their public halves.

    The key file's passphrase is asked for on the terminal, or read from
    STRONGROOM_PASSPHRASE.
    """
    from client.keys import UserKeys

    path = key_file or default_key_file(home(), email)
    with api_errors():
        keys = UserKeys.generate()
        keys.save(path, passphrase(confirm=True))
        try:
            with connect(server) as client:
                user_id = client.register(keys, email, name)
        except BaseException:
            path.unlink(missing_ok=True)  # nothing registered: leave no orphan key file
            raise
    out.print(f"Registered {safe(email)} as {safe(user_id)}; key file {safe(path)}")
    out.print("The account is deactivated until an administrator activates it.")


@user_cli.command("me")
def user_me(as_json: AsJson = False) -> None:
    """Show your own account."""
    with logged_in() as client:
        show(client.me(), as_json)


@user_cli.command("list")
def user_list(as_json: AsJson = False) -> None:
    """List the users you may see."""
    with logged_in() as client:
        users = client.users()
    if as_json:
        print_json(users)
    else:
        show_users(users)


@user_cli.command("show")
def user_show(user: Who, as_json: AsJson = False) -> None:
    """Show one user's account."""
    with logged_in() as client:
        show(client.user(user_ref(client, user)), as_json)


@user_cli.command("activate")
def user_activate(user: Who) -> None:
    """Activate an account you manage."""
    with logged_in() as client:
        client.activate(user_ref(client, user))
    out.print("Activated.")


@user_cli.command("deactivate")
def user_deactivate(user: Who) -> None:
    """Deactivate an account you manage."""
    with logged_in() as client:
        client.deactivate(user_ref(client, user))
    out.print("Deactivated.")


@user_cli.command("unlock")
def user_unlock(user: Who) -> None:
    """Unlock an account locked after failed logins."""
    with logged_in() as client:
        client.unlock(user_ref(client, user))
    out.print("Unlocked.")


@user_cli.command("role")
def user_role(
    user: Who,
    role: Annotated[str, typer.Argument(help="super-admin, admin, sub-admin, user or escrow.")],
) -> None:
    """Change a user's role."""
    with logged_in() as client:
        client.set_role(user_ref(client, user), role)
    out.print(f"Role set to {safe(role)}.")


@user_cli.command("profile")
def user_profile(
    user: Who,
    profile: Annotated[str, typer.Argument(help='A profile name, e.g. "Granite User".')],
) -> None:
    """Set a user's permissions from a profile."""
    with logged_in() as client:
        client.apply_profile(user_ref(client, user), profile)
    out.print(f"Profile {safe(repr(profile))} applied.")


@user_cli.command("permissions")
def user_permissions(
    user: Who,
    grant: Annotated[list[str] | None, typer.Option(help="Grant (repeatable).")] = None,
    restrict: Annotated[
        list[str] | None, typer.Option(help="Restrict, e.g. download, view (repeatable).")
    ] = None,
) -> None:
    """Replace a user's explicit grants and restrictions."""
    with logged_in() as client:
        client.set_permissions(user_ref(client, user), grant=grant or [], restrict=restrict or [])
    out.print("Permissions set.")


# -- teams --------------------------------------------------------------------------------


@team_cli.command("create")
def team_create(name: Annotated[str, typer.Argument(help="The team's name.")]) -> None:
    """Create a team with the default quota."""
    with logged_in() as client:
        team_id = client.create_team(name)
    out.print(f"Created team {safe(name)} ({safe(team_id)}).")


@team_cli.command("list")
def team_list(as_json: AsJson = False) -> None:
    """List the teams you may see."""
    with logged_in() as client:
        teams = client.teams()
    if as_json:
        print_json(teams)
        return
    table(
        ("id", "name", "members", "sub-admins", "storage GiB", "VMs", "cores"),
        (
            (
                t["id"],
                t["name"],
                len(t["members"]),
                len(t["sub_admins"]),
                f"{t['quota']['storage_bytes'] / 2**30:g}",
                t["quota"]["vm_count"],
                t["quota"]["cpu_cores"],
            )
            for t in teams
        ),
    )


@team_cli.command("show")
def team_show(team: WhichTeam, as_json: AsJson = False) -> None:
    """Show one team: members, sub-admins and quota."""
    with logged_in() as client:
        show(client.team(team_ref(client, team)), as_json)


@team_cli.command("add")
def team_add(team: WhichTeam, user: Who) -> None:
    """Add a member to a team."""
    with logged_in() as client:
        client.add_member(team_ref(client, team), user_ref(client, user))
    out.print("Added.")


@team_cli.command("remove")
def team_remove(team: WhichTeam, user: Who) -> None:
    """Remove a member (removal from the last team deactivates the account)."""
    with logged_in() as client:
        client.remove_member(team_ref(client, team), user_ref(client, user))
    out.print("Removed.")


@team_cli.command("assign")
def team_assign(
    team: WhichTeam,
    user: Annotated[str, typer.Argument(help="A sub-admin's id or email.")],
) -> None:
    """Assign a sub-admin to manage a team."""
    with logged_in() as client:
        client.assign_sub_admin(team_ref(client, team), user_ref(client, user))
    out.print("Assigned.")


@team_cli.command("quota")
def team_quota(
    team: WhichTeam,
    storage_gib: Annotated[float, typer.Option(min=0, help="Storage, GiB.")],
    vms: Annotated[int, typer.Option(min=0, help="Number of VMs.")],
    cores: Annotated[int, typer.Option(min=0, help="CPU cores.")],
) -> None:
    """Set a team's quota (super-admins only)."""
    with logged_in() as client:
        client.set_quota(
            team_ref(client, team),
            storage_bytes=int(storage_gib * 2**30),
            vm_count=vms,
            cpu_cores=cores,
        )
    out.print("Quota set.")


# -- profiles -----------------------------------------------------------------------------


@profile_cli.command("create")
def profile_create(
    name: Annotated[str, typer.Argument(help='The profile name, e.g. "Granite User".')],
    permission: Annotated[list[str], typer.Option(help="A permission it grants (repeatable).")],
) -> None:
    """Define a profile from a set of permissions."""
    with logged_in() as client:
        client.create_profile(name, permission)
    out.print(f"Created profile {safe(repr(name))}.")


@profile_cli.command("list")
def profile_list(as_json: AsJson = False) -> None:
    """List the profiles."""
    with logged_in() as client:
        profiles = client.profiles()
    if as_json:
        print_json(profiles)
    else:
        table(("name", "permissions"), ((p["name"], ", ".join(p["permissions"])) for p in profiles))


# -- alerts and the dashboard (compliance officers) -----------------------------------

alerts_cli = typer.Typer(
    help="Follow and work the alert queue (compliance officers).", no_args_is_help=True
)

SEVERITY_STYLE = {
    "info": "dim",
    "low": "green",
    "medium": "yellow",
    "high": "red",
    "critical": "bold red",
}


def show_alert(alert: dict[str, Any]) -> None:
    """One alert a line: styled on a terminal; tab-separated full values into a pipe."""
    if not is_terminal():
        table_row = (
            alert["raised_at"],
            alert["severity"],
            alert["type"],
            alert["message"],
            alert.get("actor_name") or alert["actor"],
            alert["position"],
            alert["id"],
        )
        sys.stdout.write("\t".join(safe(value, markup=False) for value in table_row) + "\n")
        sys.stdout.flush()  # `watch` into a pipe: each alert as it comes
        return
    style = SEVERITY_STYLE.get(str(alert["severity"]), "")
    out.print(
        f"{safe(alert['raised_at'][:19])}  [{style}]{safe(alert['severity']):8}[/]  "
        f"{safe(alert['type']):14}  {safe(alert['message'])}  "
        f"[dim]by {safe(alert.get('actor_name') or alert['actor'])} "
        f"(#{safe(alert['position'])} {safe(alert['id'])})[/]",
        highlight=False,
    )


MinSeverity = Annotated[
    str | None, typer.Option(help="At least this severity: info, low, medium, high, critical.")
]
AlertType = Annotated[str | None, typer.Option(help='Only this type, e.g. "User Locked".')]
AlertActor = Annotated[str | None, typer.Option(help="Only alerts raised by this actor (id).")]


@alerts_cli.command("watch")
def alerts_watch(
    min_severity: MinSeverity = None,
    type: AlertType = None,
    actor: AlertActor = None,
    after: Annotated[int, typer.Option(min=0, help="Start after this log position.")] = 0,
) -> None:
    """Follow alerts as they are raised; reconnects without gaps (Ctrl-C to stop)."""
    import httpx

    try:
        with logged_in() as client:
            while True:
                try:
                    alerts = client.stream_alerts(
                        after=after, min_severity=min_severity, type=type, actor=actor
                    )
                    for alert in alerts:
                        show_alert(alert)
                        after = int(alert["position"])
                except httpx.TransportError:
                    pass
                err.print("[dim]connection lost; reconnecting…[/]")
                time.sleep(1)
    except KeyboardInterrupt:
        pass


@alerts_cli.command("list")
def alerts_list(
    after: Annotated[int, typer.Option(min=0, help="Only alerts after this log position.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    min_severity: MinSeverity = None,
    type: AlertType = None,
    actor: AlertActor = None,
    as_json: AsJson = False,
) -> None:
    """Page through past alerts in log order (the filters of `watch`)."""
    with logged_in() as client:
        page = client.alerts(
            after=after, limit=limit, min_severity=min_severity, type=type, actor=actor
        )
    if as_json:
        print_json(page)
        return
    for alert in page["alerts"]:
        show_alert(alert)
    # The hint goes to stderr, so a script reading the alerts gets only alerts.
    err.print(f"[dim]next: --after {safe(page['next_after'])}[/]")


@alerts_cli.command("refusals")
def alerts_refusals(
    after: Annotated[int, typer.Option(min=0, help="Only refusals after this log position.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Refused attempts in log order: who tried what, on whom, from where, and why."""
    with logged_in() as client:
        page = client.refusals(after=after, limit=limit)
    if as_json:
        print_json(page)
        return
    table(
        ("at", "who", "action", "on", "why", "from", "count", "position"),
        (
            (
                r["at"][:19],
                r["actor_name"] or r["actor"],
                r["action"],
                r["target_name"] or r["target"] or "",
                r["reason"],
                r["client_ip"] or "",
                r["count"],
                r["position"],
            )
            for r in page["refusals"]
        ),
    )
    err.print(f"[dim]next: --after {safe(page['next_after'])}[/]")


@alerts_cli.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Acknowledge an alert."""
    with logged_in() as client:
        client.acknowledge_alert(alert_id, note)
    out.print("Acknowledged.")


@alerts_cli.command("resolve")
def alerts_resolve(
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    note: Annotated[str, typer.Option(help="How it was resolved, for the record.")] = "",
) -> None:
    """Resolve an alert."""
    with logged_in() as client:
        client.resolve_alert(alert_id, note)
    out.print("Resolved.")


def dashboard() -> None:
    """Print a link to the live compliance dashboard (with your session)."""
    saved = load_session(home())
    if saved is None:
        fail("not logged in: run `strongroom login` as a compliance officer")
    # The token travels in the fragment, which browsers never send to the server.
    out.print(f"{safe(saved.server)}/dashboard#token={safe(saved.token)}", highlight=False)
