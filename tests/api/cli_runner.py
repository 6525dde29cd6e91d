"""Runs the installed `strongroom` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from adapters.settings import Settings

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
    return subprocess.run(
        [STRONGROOM, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
