"""`strongroom init` is all or nothing, and says what it needs when it cannot ask."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.settings import Settings, SqliteStore
from tests.api.cli_runner import ADMIN, env_for, strongroom


def key_files(settings: Settings) -> list[Path]:
    keys = settings.home / "keys"
    return sorted(keys.iterdir()) if keys.exists() else []


def assert_a_good_init_still_works(settings: Settings, env: dict[str, str]) -> None:
    """Nothing was recorded: a real init afterwards starts from a blank store."""
    init = strongroom("init", *ADMIN, env=env)
    assert init.returncode == 0, init.stderr
    verify = strongroom("audit", "verify", env=env)
    assert verify.stdout.startswith("OK: 5 events up to position 5"), verify.stdout + verify.stderr
    assert [p.name for p in key_files(settings)] == ["root@enclave.edu.key"]


@pytest.mark.parametrize(
    "email",
    ["root.enclave.edu", "root\x1b[31m@enclave.edu", "root\u202e@enclave.edu", " "],
    ids=["no-at", "ansi-escape", "rtl-override", "blank"],
)
def test_a_bad_admin_email_leaves_nothing_behind(settings: Settings, email: str) -> None:
    env = env_for(settings)
    audit_keys = sorted(settings.audit_dir.iterdir())

    refused = strongroom("init", "--admin-email", email, env=env)

    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: --admin-email: ")
    assert "\x1b" not in refused.stderr and "\u202e" not in refused.stderr
    # No orphan key file, no new audit key, and (embedded) not even a store file.
    assert key_files(settings) == []
    assert sorted(settings.audit_dir.iterdir()) == audit_keys
    if isinstance(settings.store, SqliteStore):
        assert not Path(settings.store.path).exists()
    assert_a_good_init_still_works(settings, env)


def test_a_bad_admin_name_is_refused_before_anything_too(settings: Settings) -> None:
    env = env_for(settings)
    refused = strongroom(
        "init", "--admin-email", "root@enclave.edu", "--admin-name", "Root\x1b]0;x\x07", env=env
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: --admin-name: ")
    assert key_files(settings) == []
    assert_a_good_init_still_works(settings, env)


def test_without_a_terminal_init_names_the_passphrase_variable(settings: Settings) -> None:
    env = env_for(settings)
    del env["STRONGROOM_PASSPHRASE"]
    # A fresh home: the audit key is init's to create (and to remove again).
    for path in settings.audit_dir.iterdir():
        path.unlink()

    # No terminal (the runner gives none) and no variable: one line naming it, exit 2.
    refused = strongroom("init", *ADMIN, env=env)

    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: no terminal to ask for the key file's passphrase: set STRONGROOM_PASSPHRASE"
    ]
    assert key_files(settings) == []
    assert list(settings.audit_dir.iterdir()) == []
    assert_a_good_init_still_works(settings, env_for(settings))


def test_help_names_the_passphrase_variable(tmp_path: Path) -> None:
    env = {"STRONGROOM_HOME": str(tmp_path), "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    for command in (("init",), ("login",), ("user", "register")):
        shown = strongroom(*command, "--help", env=env)
        assert shown.returncode == 0
        assert "STRONGROOM_PASSPHRASE" in shown.stdout, command
