"""Real stores for tests: a SQLite file, or a fresh Postgres database created and dropped.

Postgres tests run when STRONGROOM_TEST_POSTGRES_URL is set (CI sets it); a server
that is then missing fails them rather than skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg

from adapters.ledger.checkpoints import create_signing_key
from adapters.settings import PostgresStore, Settings, SqliteStore

POSTGRES_URL_VARIABLE = "STRONGROOM_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_URL_VARIABLE, "")
STORE_KINDS = ["sqlite", "postgres"]


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a database for one test and drop it afterwards; yields its URL."""
    if not POSTGRES_URL:
        raise RuntimeError(f"{POSTGRES_URL_VARIABLE} is not set")
    name = f"strongroom_test_{uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(POSTGRES_URL)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def store_settings(
    kind: str, home: Path, *, checkpoint_every: int = 10, **extra: str
) -> Iterator[Settings]:
    """Settings for a fresh store of `kind` under `home`, with its audit key created."""

    def settings_for(url: str | None) -> Settings:
        env = {
            "STRONGROOM_HOME": str(home),
            "STRONGROOM_CHECKPOINT_EVERY": str(checkpoint_every),
            **extra,
        }
        if url:
            env["STRONGROOM_DATABASE_URL"] = url
        settings = Settings.from_env(env)
        if not settings.signing_key_path.exists():
            create_signing_key(settings.signing_key_path, settings.public_key_path)
        return settings

    if kind == "sqlite":
        yield settings_for(None)
    elif kind == "postgres":
        with fresh_postgres_database() as url:
            yield settings_for(url)
    else:
        raise ValueError(kind)


def stored_bytes(settings: Settings) -> bytes:
    """Everything the server keeps, as bytes: every file, or every row of every table.

    Searched for what must never be stored: private keys, token secrets.
    """
    store = settings.store
    if isinstance(store, SqliteStore):
        return b"".join(
            path.read_bytes()
            for path in Path(store.path).parent.iterdir()
            if path.name.startswith(Path(store.path).name)
        )
    assert isinstance(store, PostgresStore)
    chunks = []
    with psycopg.connect(**store.conninfo()) as db:  # type: ignore[arg-type]
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (table,) in tables:
            with db.cursor(binary=True) as cursor:
                for row in cursor.execute(f'SELECT * FROM "{table}"').fetchall():
                    chunks += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    return b"\n".join(chunks)
