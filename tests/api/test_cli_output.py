"""What the client commands print: JSON for scripts, whole values in pipes, and stored
text that can never drive the terminal of whoever reads it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from adapters.bootstrap import bootstrap
from adapters.settings import Settings
from api.console import safe
from client.api import StrongroomClient
from client.keys import UserKeys
from domain.envelope import AuditContext, acting_as
from domain.teams import DEFAULT_QUOTA, Team, TeamName
from domain.users import EmailIndex, User
from tests.api.cli_runner import add_officer, ok, on_a_terminal, served, strongroom

# Written before the server refused such text: an old record can hold any of it.
HOSTILE_NAME = "Eve\x1b[2J\x1b]0;pwned\x07\u202egpj.exe\x9b6n [bold]x[/bold] :warning:"
HOSTILE_EMAIL = "eve\x1b[8m\u2066@enclave.edu"
HOSTILE_TEAM = "Ops\x1b[2J\u202eXX\u200f"
# What must never reach a terminal raw, and what it is shown as instead.
RAW = ["\x1b[2J", "\x1b]0;", "\x1b[8m", "\x07", "\x9b", "\u202e", "\u2066", "\u200f"]
SHOWN = ["\\x1b[2J", "\\x1b]0;pwned\\x07", "\\u202e", "\\x9b6n", "\\u2066", "\\u200f"]


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    with served(settings) as env:
        yield env


def sdk(env: dict[str, str]) -> StrongroomClient:
    """The SDK with the CLI's own session: what the API answers the same person."""
    saved = json.loads((Path(env["STRONGROOM_HOME"]) / "client" / "session.json").read_text())
    return StrongroomClient(env["STRONGROOM_SERVER"], token=saved["token"])


def test_listings_and_show_as_json_are_the_apis_own(env: dict[str, str]) -> None:
    ok("team", "create", "DAC", env=env)
    ok("profile", "create", "Granite User", "--permission", "view", env=env)
    api = sdk(env)
    me = api.me()
    (dac,) = api.teams()

    def cli(*args: str) -> object:
        return json.loads(ok(*args, "--json", env=env))

    assert cli("user", "list") == api.users()
    assert cli("user", "me") == me
    assert cli("user", "show", "root@enclave.edu") == api.user(me["id"])
    assert cli("team", "list") == [dac]
    assert cli("team", "show", "DAC") == api.team(dac["id"]) == dac
    assert cli("profile", "list") == api.profiles()
    # projections status opens the store itself; its items are /healthz's.
    health = httpx.get(f"{env['STRONGROOM_SERVER']}/healthz").json()["projections"]
    status = cli("projections", "status")
    assert isinstance(status, list)
    assert [(p["name"], sorted(p)) for p in status] == [(p["name"], sorted(p)) for p in health]


def test_into_a_pipe_every_value_is_whole(env: dict[str, str]) -> None:
    ok("team", "create", "Radiology and Imaging AI Research", env=env)
    narrow = {**env, "COLUMNS": "40"}  # a terminal this narrow would fold every column
    (root,) = json.loads(ok("user", "list", "--json", env=env))
    (team,) = json.loads(ok("team", "list", "--json", env=env))

    header, row = (line.split("\t") for line in ok("user", "list", env=narrow).splitlines())
    assert header == ["id", "email", "name", "role", "active", "locked", "teams", "permissions"]
    assert row[:4] == [root["id"], "root@enclave.edu", "Root", "super-admin"]

    header, row = (line.split("\t") for line in ok("team", "list", env=narrow).splitlines())
    assert (header[:2], row[:2]) == (["id", "name"], [team["id"], team["name"]])

    shown = ok("user", "show", "root@enclave.edu", env=narrow).splitlines()
    assert f"id                     {root['id']}" in shown
    assert "signing_public_key     " + root["signing_public_key"] in shown


def record_old_hostile_records(settings: Settings) -> None:
    """A user and a team with hostile names, saved as records from before the checks were."""
    keys = UserKeys.generate()
    with bootstrap(settings) as system, acting_as(AuditContext.system("old-import")):
        user = User(
            email=HOSTILE_EMAIL,
            name=HOSTILE_NAME,
            signing_public_key=keys.signing_public_key,
            encryption_public_key=keys.encryption_public_key,
        )
        team = Team(name=HOSTILE_TEAM, quota=DEFAULT_QUOTA.as_dict())
        system.app.save(user, EmailIndex(user.email, user.id), team, TeamName(team.name, team.id))


def assert_shown_not_obeyed(output: str) -> None:
    for raw in RAW:
        assert raw not in output, (raw, output)


def test_stored_text_is_shown_never_obeyed(env: dict[str, str], settings: Settings) -> None:
    record_old_hostile_records(settings)
    api = sdk(env)
    (eve,) = [u for u in api.users() if u["name"] == HOSTILE_NAME]
    (ops,) = [t for t in api.teams() if t["name"] == HOSTILE_TEAM]

    # Into a pipe and on a terminal alike: the escapes are there to read, none is obeyed.
    for args in (
        ("user", "list"),
        ("user", "show", eve["id"]),
        ("team", "list"),
        ("team", "show", ops["id"]),
    ):
        piped = ok(*args, env=env)
        assert_shown_not_obeyed(piped)
        on_screen = on_a_terminal(*args, env=env)
        assert_shown_not_obeyed(on_screen)
        for output in (piped, on_screen):
            # Rich markup and emoji codes are printed as written, too.
            assert "[bold]x[/bold]" in output or "\\u202eXX" in output, args
    for output in (ok("user", "list", env=env), on_a_terminal("user", "list", env=env)):
        for shown in SHOWN[:5]:
            assert shown in output, (shown, output)
        assert ":warning:" in output
    # JSON keeps the exact value, with every such character as a \u escape.
    listed = ok("user", "list", "--json", env=env)
    assert_shown_not_obeyed(listed)
    assert HOSTILE_NAME in [u["name"] for u in json.loads(listed)]

    # The officer's views: the alert about Eve's arrival quotes her name and email.
    add_officer(env)
    for output in (ok("alerts", "list", env=env), on_a_terminal("alerts", "list", env=env)):
        assert_shown_not_obeyed(output)
        assert "\\x1b[8m\\u2066@enclave.edu" in output


def test_safe_makes_controls_visible_and_markup_literal() -> None:
    assert safe("a\x00b\x1b[31mc\x7f\x85\u061c\u200e\u202a\u2069\u2028\td\n") == (
        "a\\x00b\\x1b[31mc\\x7f\\x85\\u061c\\u200e\\u202a\\u2069\\u2028\\x09d\\x0a"
    )
    assert safe("[bold red]x[/]") == "\\[bold red]x\\[/]"
    assert safe("[bold red]x[/]", markup=False) == "[bold red]x[/]"
    assert safe("Zoë Ødegård 李伟 → ok") == "Zoë Ødegård 李伟 → ok"
    # Printed through Rich on a terminal, what was escaped comes out as written.
    screen = io.StringIO()
    Console(file=screen, force_terminal=True, emoji=False).print(
        safe(HOSTILE_NAME), highlight=False
    )
    assert_shown_not_obeyed(screen.getvalue())
    assert "[bold]x[/bold]" in screen.getvalue()


def test_error_messages_are_safe_too(env: dict[str, str]) -> None:
    refused = strongroom("user", "show", "nobody\x1b[2J@enclave.edu", env=env)
    assert refused.returncode == 1
    assert refused.stderr == "error: no user you can see has the email nobody\\x1b[2J@enclave.edu\n"
