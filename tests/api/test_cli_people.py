"""`strongroom login|user|team|profile` as a person types them, against a live server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings
from api.local_server import live_server
from client.api import StrongroomClient
from tests.api.cli_runner import (
    ADMIN,
    STRONGROOM,
    add_officer,
    env_for,
    lines_until,
    ok,
    read_lines,
    strongroom,
)


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    base = env_for(settings)
    assert strongroom("init", *ADMIN, env=base).returncode == 0
    with live_server(settings) as url:
        yield {**base, "STRONGROOM_SERVER": url}


def test_an_administrator_onboards_a_researcher_from_the_shell(env: dict[str, str]) -> None:
    # Before logging in, commands say what to do.
    result = strongroom("user", "list", env=env)
    assert result.returncode == 1
    assert "not logged in: run `strongroom login" in result.stderr

    # The super-admin logs in with the key file `init` wrote.
    assert "(super-admin)" in ok("login", "--email", "root@enclave.edu", env=env)
    ok("team", "create", "DAC", env=env)
    ok(
        "profile",
        "create",
        "Granite User",
        "--permission",
        "view",
        "--permission",
        "download",
        env=env,
    )

    # A researcher registers: keys made locally, key file written, public keys sent.
    registered = ok("user", "register", "--email", "rae@enclave.edu", "--name", "Rae", env=env)
    assert "deactivated until an administrator activates it" in registered

    # The administrator sets her up, referring to people and teams by name.
    ok("team", "add", "DAC", "rae@enclave.edu", env=env)
    ok("user", "activate", "rae@enclave.edu", env=env)
    ok("user", "profile", "rae@enclave.edu", "Granite User", env=env)
    ok("user", "permissions", "rae@enclave.edu", "--restrict", "download", env=env)
    listing = ok("user", "list", env=env)
    assert "rae@enclave.edu" in listing and "view" in listing

    # She logs in; she may not administer anyone: one line, non-zero exit.
    ok("login", "--email", "rae@enclave.edu", env=env)
    refused = strongroom("team", "create", "Mine", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: 403: create-team: a user cannot create-team"
    ]
    assert "Rae" in ok("user", "me", env=env)
    ok("logout", env=env)
    assert strongroom("user", "me", env=env).returncode == 1


def test_a_wrong_passphrase_is_one_line(env: dict[str, str]) -> None:
    result = strongroom(
        "login", "--email", "root@enclave.edu", env={**env, "STRONGROOM_PASSPHRASE": "wrong"}
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: wrong passphrase")


def test_bad_input_names_the_field(env: dict[str, str]) -> None:
    ok("login", "--email", "root@enclave.edu", env=env)
    result = strongroom("user", "role", "root@enclave.edu", "emperor", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: 422: role: ")


def test_an_unreachable_server_is_one_line(env: dict[str, str]) -> None:
    result = strongroom(
        "login",
        "--email",
        "root@enclave.edu",
        env={**env, "STRONGROOM_SERVER": "http://127.0.0.1:9"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach the server")


def test_alerts_watch_follows_the_stream_as_an_officer(env: dict[str, str]) -> None:
    # The super-admin registers an officer and grants the audit capability.
    ok("login", "--email", "root@enclave.edu", env=env)
    add_officer(env)
    assert "/dashboard#token=" in ok("dashboard", env=env)

    watch = subprocess.Popen(
        [STRONGROOM, "alerts", "watch", "--type", "User Added"],
        env={**env, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        lines = read_lines(watch.stdout)
        seen: list[str] = []
        deadline = time.monotonic() + 30
        lines_until(lines, "officer@enclave.edu> registered", seen, deadline)
        # Something new happens elsewhere; the watcher prints it as it comes.
        strongroom("user", "register", "--email", "late@enclave.edu", "--name", "Late", env=env)
        lines_until(lines, "late@enclave.edu> registered", seen, deadline)
        assert all("User Added" in line for line in seen if line.strip())
    finally:
        watch.terminate()
        watch.wait(timeout=30)


def test_alerts_list_takes_the_filters_of_watch(env: dict[str, str]) -> None:
    # Alerts of three kinds: people added (info), activated (low), a role changed (medium).
    ok("login", "--email", "root@enclave.edu", env=env)
    root_id = json.loads(ok("user", "me", "--json", env=env))["id"]
    ok("user", "register", "--email", "ida@enclave.edu", "--name", "Ida", env=env)
    ok("team", "create", "Ops", env=env)
    ok("team", "add", "Ops", "ida@enclave.edu", env=env)
    ok("user", "activate", "ida@enclave.edu", env=env)
    ok("user", "role", "ida@enclave.edu", "admin", env=env)
    add_officer(env)
    token = json.loads((Path(env["STRONGROOM_HOME"]) / "client" / "session.json").read_text())
    sdk = StrongroomClient(env["STRONGROOM_SERVER"], token=token["token"])

    everything = json.loads(ok("alerts", "list", "--json", env=env))
    assert everything == sdk.alerts(limit=50)
    assert {a["type"] for a in everything["alerts"]} >= {"User Added", "Role Changed"}

    # Each filter of `watch`, as `list` options: the same answer as the API's filter,
    # and a real narrowing of the whole list.
    for option, value, keep in [
        ("--type", "User Added", lambda a: a["type"] == "User Added"),
        ("--min-severity", "medium", lambda a: a["severity"] in ("medium", "high", "critical")),
        ("--actor", root_id, lambda a: a["actor"] == root_id),
    ]:
        filtered = json.loads(ok("alerts", "list", option, value, "--json", env=env))
        name = option.removeprefix("--").replace("-", "_")
        assert filtered == sdk.alerts(limit=50, **{name: value}), option
        expected = [a for a in everything["alerts"] if keep(a)]
        assert filtered["alerts"] == expected, option
        assert 0 < len(expected) < len(everything["alerts"]), option
        # As text (into a pipe): one tab-separated line per alert, full ids.
        text = ok("alerts", "list", option, value, env=env).splitlines()
        assert [line.split("\t")[-1] for line in text] == [a["id"] for a in expected]

    # And they combine, as in `watch`.
    both = json.loads(
        ok("alerts", "list", "--type", "Role Changed", "--actor", root_id, "--json", env=env)
    )
    assert both["alerts"] == [
        a for a in everything["alerts"] if a["type"] == "Role Changed" and a["actor"] == root_id
    ]
    assert both["alerts"]


def test_officers_list_refusals_naming_who_tried(env: dict[str, str]) -> None:
    ok("login", "--email", "root@enclave.edu", env=env)
    ok("team", "create", "Audit", env=env)
    ok("user", "register", "--email", "officer@enclave.edu", "--name", "Olu", env=env)
    ok("team", "add", "Audit", "officer@enclave.edu", env=env)
    ok("user", "activate", "officer@enclave.edu", env=env)
    ok("user", "permissions", "officer@enclave.edu", "--grant", "audit", env=env)
    refused = strongroom("alerts", "list", env=env)  # root holds no audit capability
    assert refused.returncode == 1
    ok("login", "--email", "officer@enclave.edu", env=env)
    listed = ok("alerts", "refusals", env=env)
    row = next(line for line in listed.splitlines() if "read-alerts" in line)
    assert "Root <root@enclave.edu>" in row
