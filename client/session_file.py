"""Where the CLI keeps the current session: a file only its owner can read."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SavedSession:
    server: str
    token: str
    email: str
    user_id: str
    role: str


def session_path(home: Path) -> Path:
    return home / "client" / "session.json"


def save_session(home: Path, session: SavedSession) -> None:
    path = session_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(session), out)


def load_session(home: Path) -> SavedSession | None:
    try:
        return SavedSession(**json.loads(session_path(home).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def forget_session(home: Path) -> None:
    session_path(home).unlink(missing_ok=True)


def default_key_file(home: Path, email: str) -> Path:
    return home / "keys" / f"{email.strip().lower()}.key"
