"""`strongroom login|user|team|profile` as a person types them, against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.settings import Settings
from tests.api.cli_runner import ADMIN, env_for, strongroom
from tests.live_server import live_server


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    base = env_for(settings)
    assert strongroom("init", *ADMIN, env=base).returncode == 0
    with live_server(settings) as url:
        yield {**base, "STRONGROOM_SERVER": url}


def ok(*args: str, env: dict[str, str]) -> str:
    result = strongroom(*args, env={**env, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    return result.stdout


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


def test_alerts_watch_follows_the_stream_as_an_officer(
    env: dict[str, str], settings: Settings
) -> None:
    import subprocess
    import time

    from tests.api.cli_runner import STRONGROOM

    # The super-admin registers an officer and grants the audit capability.
    ok("login", "--email", "root@enclave.edu", env=env)
    ok("team", "create", "Audit", env=env)
    ok("user", "register", "--email", "officer@enclave.edu", "--name", "Olu", env=env)
    ok("team", "add", "Audit", "officer@enclave.edu", env=env)
    ok("user", "activate", "officer@enclave.edu", env=env)
    ok("user", "permissions", "officer@enclave.edu", "--grant", "audit", env=env)
    ok("login", "--email", "officer@enclave.edu", env=env)
    assert "/dashboard#token=" in ok("dashboard", env=env)

    watch = subprocess.Popen(
        [STRONGROOM, "alerts", "watch", "--type", "User Added"],
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while not any("officer@enclave.edu registered" in line for line in seen):
            assert time.monotonic() < deadline, seen
            seen.append(watch.stdout.readline())
        # Something new happens elsewhere; the watcher prints it as it comes.
        strongroom("user", "register", "--email", "late@enclave.edu", "--name", "Late", env=env)
        while not any("late@enclave.edu registered" in line for line in seen):
            assert time.monotonic() < deadline, seen
            seen.append(watch.stdout.readline())
        assert all("User Added" in line for line in seen if line.strip())
    finally:
        watch.terminate()
        watch.wait(timeout=30)
