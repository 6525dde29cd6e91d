"""`strongroom demo`: fails fast on a busy port, and its login hint works in a new shell."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from adapters.settings import Settings
from api.local_server import free_port, wait_until_healthy
from tests.api.cli_runner import STRONGROOM, env_for, lines_until, read_lines, strongroom


def test_a_busy_port_stops_the_demo_before_it_builds_anything(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        refused = strongroom("demo", "--port", str(port), env={**env, "STRONGROOM_HOME": str(home)})

    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: 127.0.0.1:{port} is already in use: stop what listens there, or pass --port"
    ]
    assert not (home / "strongroom.db").exists()
    assert not (home / "keys").exists()


def test_the_login_hint_works_pasted_into_a_new_shell(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings)
    del env["STRONGROOM_PASSPHRASE"]  # the demo brings its own
    port = free_port()
    demo = subprocess.Popen(
        [STRONGROOM, "demo", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", lambda: demo.poll() is None, timeout=300)
        assert demo.stdout is not None
        printed = read_lines(demo.stdout)
        seen: list[str] = []
        lines_until(printed, "Log in from another shell", seen, time.monotonic() + 60)
        assert "'demo'" in seen[-1]
        hint = [printed.get(timeout=60).strip() for _ in range(2)]
        assert hint[0].startswith("export STRONGROOM_HOME=")

        # A new shell: somewhere else, none of our variables, no venv on PATH. The
        # passphrase variable stands in for typing `demo` at the prompt.
        fresh = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        fresh.update(PATH="/usr/bin:/bin", STRONGROOM_PASSPHRASE="demo")
        command = hint[1].split(" login ")[0]
        shell = subprocess.run(
            ["bash", "-euc", "\n".join([*hint, f"{command} user me --json"])],
            env=fresh,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            start_new_session=True,
        )
        assert shell.returncode == 0, shell.stderr
        logged_in, me = shell.stdout.split("\n", 1)
        assert logged_in.startswith("Logged in as admin@enclave.example.edu (super-admin)")
        assert json.loads(me)["email"] == "admin@enclave.example.edu"
    finally:
        demo.terminate()
        demo.wait(timeout=60)
