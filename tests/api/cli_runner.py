"""Runs the installed `strongroom` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import pty
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from adapters.settings import Settings
from api.local_server import live_server

STRONGROOM = str(Path(sys.executable).parent / "strongroom")
PASSPHRASE = "tests only, not secret"
ADMIN = ("--admin-email", "root@enclave.edu", "--admin-name", "Root")


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_HOME"] = str(settings.home)
    env["STRONGROOM_CHECKPOINT_EVERY"] = str(settings.checkpoint_every)
    env["STRONGROOM_PASSPHRASE"] = PASSPHRASE
    if settings.store.kind == "postgres":
        store = settings.store
        env["STRONGROOM_DATABASE_URL"] = (
            f"postgresql://{store.user}@{store.host}:{store.port}/{store.dbname}"  # type: ignore[union-attr]
        )
    env.update(extra)
    return env


def strongroom(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `strongroom ARGS` to completion, as from a script: no terminal at all.

    stdin is empty and the process has no controlling terminal, so nothing can
    prompt (a prompt would otherwise read the terminal pytest was started from).
    """
    return subprocess.run(
        [STRONGROOM, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(*args: str, env: dict[str, str]) -> str:
    """Run a command that must succeed; its stdout."""
    result = strongroom(*args, env=env)
    assert result.returncode == 0, f"strongroom {' '.join(args)}: {result.stderr}"
    return result.stdout


@contextmanager
def served(settings: Settings) -> Iterator[dict[str, str]]:
    """An initialised store behind a live server; the environment of a shell logged in as root."""
    env = env_for(settings)
    ok("init", *ADMIN, env=env)
    with live_server(settings) as url:
        env["STRONGROOM_SERVER"] = url
        ok("login", "--email", "root@enclave.edu", env=env)
        yield env


def add_officer(env: dict[str, str], email: str = "officer@enclave.edu") -> None:
    """As root: register someone, set them up with the audit capability, and log in as them."""
    ok("team", "create", "Audit", env=env)
    ok("user", "register", "--email", email, "--name", "Olu", env=env)
    ok("team", "add", "Audit", email, env=env)
    ok("user", "activate", email, env=env)
    ok("user", "permissions", email, "--grant", "audit", env=env)
    ok("login", "--email", email, env=env)


def on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """What `strongroom ARGS` writes when its stdout and stderr are a (pseudo) terminal."""
    master, child_side = pty.openpty()
    process = subprocess.Popen(
        [STRONGROOM, *args],
        env={**env, "COLUMNS": "400", "LINES": "50"},
        stdin=subprocess.DEVNULL,
        stdout=child_side,
        stderr=child_side,
        start_new_session=True,
    )
    os.close(child_side)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert process.wait(timeout=120) == 0, b"".join(chunks)
    return b"".join(chunks).decode()


def lines_until(lines: queue.Queue[str], wanted: str, seen: list[str], deadline: float) -> None:
    """Take lines into `seen` until one contains `wanted`; fail at `deadline`, never hang."""
    while not any(wanted in line for line in seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line with {wanted!r} in {seen}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        assert line, f"the watcher ended; it printed {seen}"
        seen.append(line)


def read_lines(stream: IO[str]) -> queue.Queue[str]:
    """The lines of `stream` as they come, read in a thread ("" at the end)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines
