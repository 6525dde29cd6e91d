"""The client side of the CLI starts without the server side: what each command imports.

An officer types many short commands; each one pays for every module it imports.
These tests say what must stay out (no timings: those are in bench/cli.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings
from api.local_server import live_server
from tests.api.cli_runner import ADMIN, env_for, strongroom

SERVER_SIDE = ["sqlalchemy", "psycopg", "eventsourcing", "fastapi", "uvicorn", "adapters"]

# Runs the CLI in a fresh interpreter, then lists which of the given modules it loaded.
PROBE = """
import json, sys
args, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
from api.cli import main
sys.argv = ["strongroom", *args]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nLOADED " + json.dumps(sorted(set(modules) & set(sys.modules))))
"""


def loaded(args: list[str], modules: list[str], env: dict[str, str]) -> list[str]:
    """Which of `modules` the command `strongroom ARGS` imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(modules)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    marker = done.stdout.rindex("\nLOADED ")
    return list(json.loads(done.stdout[marker + len("\nLOADED ") :]))


def test_importing_the_cli_loads_no_server_side() -> None:
    probe = "import sys, api.cli; print(sorted(m for m in sys.argv[1:] if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe, *SERVER_SIDE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_help_loads_neither_the_server_side_nor_the_http_client(tmp_path: Path) -> None:
    env = {"STRONGROOM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for args in (["--help"], ["user", "--help"], ["user", "list", "--help"]):
        assert loaded(args, [*SERVER_SIDE, "domain", "httpx", "cryptography"], env) == [], args


@pytest.fixture
def logged_in_env(settings: Settings) -> Iterator[dict[str, str]]:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    with live_server(settings) as url:
        env["STRONGROOM_SERVER"] = url
        assert strongroom("login", "--email", "root@enclave.edu", env=env).returncode == 0
        yield env


def test_a_listing_loads_no_server_side_and_no_cryptography(
    logged_in_env: dict[str, str],
) -> None:
    # Reading needs HTTP, not keys: cryptography is only for login and register; and
    # not httpx's own command line (click, pygments).
    modules = [*SERVER_SIDE, "domain", "cryptography", "click", "pygments", "httpx"]
    assert loaded(["user", "list"], modules, logged_in_env) == ["httpx"]
    assert loaded(["team", "list", "--json"], modules, logged_in_env) == ["httpx"]
