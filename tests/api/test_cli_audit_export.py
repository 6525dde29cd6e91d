"""`strongroom audit export` and `strongroom audit verify --export`, as an operator and an
auditor run them: what they print, how they exit, and what is recorded.

The auditor's laptop has never seen the server: no Strongroom home, no database,
no STRONGROOM_* variables — only the export directory and the audit public key.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from adapters.bootstrap import open_system
from adapters.ledger.checkpoints import key_id_of, load_public_key
from adapters.settings import Settings
from audit_queries.export import Manifest
from tests.api.cli_runner import ADMIN, env_for, ok, on_a_terminal, strongroom
from tests.stores import store_settings

EXPORT_TOPIC = "domain.exports:ForensicExport.Written"


def recorded(settings: Settings, topic: str | None = None) -> list[Any]:
    """The store's events (of `topic`), decoded."""
    app = open_system(settings).app
    try:
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if topic is None or n.topic == topic
        ]
    finally:
        app.close()


def test_export_shows_progress_says_what_it_wrote_and_records_the_run(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings)
    ok("init", *ADMIN, env=env)
    directory = tmp_path / "export"

    # On a terminal: a progress bar, then one line saying what was written.
    screen = on_a_terminal("audit", "export", "--to", str(directory), env=env)
    assert "exporting" in screen and "5/5" in screen
    assert "Exported 5 new events (1 files)" in screen
    assert "5 events up to position 5." in screen

    # The copy is part of the record: by the system, of which positions, to where.
    (run,) = recorded(settings, EXPORT_TOPIC)
    assert (run.actor_id, run.actor_role) == ("system:export", "system")
    assert (run.destination, run.format) == (str(directory.resolve()), "parquet")
    assert (run.from_position, run.to_position, run.events) == (0, 5, 5)

    # The next run adds what came since: the record of the first run.
    again = strongroom("audit", "export", "--to", str(directory), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Exported 1 new events (1 files)")
    runs = recorded(settings, EXPORT_TOPIC)
    assert [(r.from_position, r.to_position, r.events) for r in runs] == [(0, 5, 5), (5, 6, 1)]
    manifest = Manifest.load(directory)
    assert (manifest.position, manifest.events) == (6, 6)


def test_export_refuses_an_unknown_format_before_anything_happens(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings)
    ok("init", *ADMIN, env=env)
    before = len(recorded(settings))
    for args in (("--format", "csv"), ("--format", "ocsf", "--ocsf-as", "xml")):
        result = strongroom("audit", "export", "--to", str(tmp_path / "export"), *args, env=env)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "--format is parquet or ocsf" in result.stderr
    assert not (tmp_path / "export").exists()
    assert len(recorded(settings)) == before


def test_export_into_the_export_of_another_store_fails(
    settings: Settings, store_kind: str, tmp_path: Path
) -> None:
    directory = tmp_path / "export"
    ok("init", *ADMIN, env=env_for(settings))
    ok("audit", "export", "--to", str(directory), env=env_for(settings))
    manifest = (directory / "_manifest.json").read_bytes()
    with store_settings(store_kind, tmp_path / "other") as other:
        env = env_for(other)
        ok("init", *ADMIN, env=env)
        result = strongroom("audit", "export", "--to", str(directory), env=env)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert "export failed: the store's chain does not continue this export" in result.stderr
        assert recorded(other, EXPORT_TOPIC) == []
    assert (directory / "_manifest.json").read_bytes() == manifest


def test_an_auditor_verifies_an_export_on_a_laptop(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings)
    ok("init", *ADMIN, env=env)
    ok("audit", "export", "--to", str(tmp_path / "export"), env=env)
    # What the auditor is handed: the directory, and the public key the server prints.
    laptop = tmp_path / "laptop"
    export = Path(shutil.copytree(tmp_path / "export", laptop / "export"))
    key = laptop / "audit-public.pem"
    key.write_text(ok("audit", "public-key", env=env))
    home = laptop / "home"
    home.mkdir()
    bare = {"PATH": os.environ["PATH"], "HOME": str(home)}
    events = len(recorded(settings))

    result = strongroom(
        "audit", "verify", "--export", str(export), "--public-key", str(key), env=bare
    )
    assert result.returncode == 0, result.stdout + result.stderr
    key_id = key_id_of(load_public_key(key))
    assert result.stdout == (
        f"OK: 5 events up to position 5 in 1 file, 1 checkpoint signed by key {key_id}\n"
    )
    screen = on_a_terminal(
        "audit", "verify", "--export", str(export), "--public-key", str(key), env=bare
    )
    assert "verifying the export" in screen and "5/5" in screen

    # Someone changes an event in the copy: the first bad position, exit 1, and no
    # alert (there is no store here to raise one in).
    (path,) = export.glob("day=*/*.parquet")
    table = pq.read_table(path)
    payloads = table.column("payload").to_pylist()
    payloads[2] = payloads[2].replace('"actor_role":"system"', '"actor_role":"user"')
    index = table.schema.get_field_index("payload")
    pq.write_table(table.set_column(index, table.schema.field(index), [payloads]), path)
    result = strongroom(
        "audit", "verify", "--export", str(export), "--public-key", str(key), env=bare
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at position 3: altered: ")
    assert "alert" not in result.stdout + result.stderr

    # Without the key, or with another installation's, it says so.
    result = strongroom("audit", "verify", "--export", str(export), env=bare)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--export needs --public-key" in result.stderr
    with store_settings("sqlite", tmp_path / "another") as another:
        result = strongroom(
            "audit",
            "verify",
            "--export",
            str(tmp_path / "export"),
            "--public-key",
            str(another.public_key_path),
            env=bare,
        )
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED at position 1: bad signature: ")
    result = strongroom(
        "audit", "verify", "--export", str(laptop / "nowhere"), "--public-key", str(key), env=bare
    )
    assert result.returncode == 2 and "is not a directory" in result.stderr

    # Nothing was written on the laptop, and nothing recorded on the server.
    assert list(home.iterdir()) == []
    assert len(recorded(settings)) == events
