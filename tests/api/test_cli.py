"""The `strongroom` command line, run as a subprocess against real stores."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from adapters.bootstrap import open_system
from adapters.settings import Settings
from tests.api.cli_runner import ADMIN, env_for, strongroom
from tests.tamper import Tamperer


def test_help_lists_every_command_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "STRONGROOM_HOME": str(tmp_path)}
    top = strongroom("--help", env=env)
    assert top.returncode == 0
    for command in ("init", "serve", "demo", "audit"):
        assert f" {command} " in top.stdout
    audit = strongroom("audit", "--help", env=env)
    for command in ("verify", "seal", "public-key"):
        assert f" {command} " in audit.stdout


def test_init_then_verify_then_tamper_then_verify(settings: Settings) -> None:
    env = env_for(settings)
    # Initialising creates the store and records the installation.
    init = strongroom("init", *ADMIN, env=env)
    assert init.returncode == 0, init.stderr
    assert "Initialised" in init.stdout
    assert "super-admin:     root@enclave.edu" in init.stdout
    key_mode = stat.S_IMODE(settings.signing_key_path.stat().st_mode)
    assert key_mode == 0o600

    # Running it again is refused, and says why.
    again = strongroom("init", *ADMIN, env=env)
    assert again.returncode == 1
    assert "already initialised" in again.stderr

    # ...unless asked to be quiet about it, as `make run` does.
    quiet = strongroom("init", "--if-needed", env=env)
    assert (quiet.returncode, quiet.stdout) == (0, "")

    # The untouched store verifies: the installation and its first super-admin.
    verify = strongroom("audit", "verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("OK: 5 events up to position 5, 1 signed checkpoints")

    # Someone deletes the installation event behind the trigger's back.
    attacker = Tamperer(settings)
    attacker.delete_event(1)
    attacker.close()
    verify = strongroom("audit", "verify", env=env)
    assert verify.returncode == 1
    assert verify.stdout.startswith("FAILED at position 1: missing:")
    assert "Hash alert was raised" in verify.stderr

    # The officers hear of it through the store: one critical Hash alert, however
    # often verification runs.
    assert strongroom("audit", "verify", env=env).returncode == 1
    app = open_system(settings).app
    try:
        hash_alerts = [
            e
            for e in (
                app.mapper.to_domain_event(n)
                for n in app.recorder.select_notifications(start=1, limit=100)
            )
            if type(e).__qualname__ == "Alert.Raised" and e.type == "Hash alert"
        ]
    finally:
        app.close()
    assert [(a.severity, a.source_position, a.actor_id) for a in hash_alerts] == [
        ("critical", 1, "system:audit-verify")
    ]


def test_public_key_is_the_homes_key(settings: Settings) -> None:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    shown = strongroom("audit", "public-key", env=env)
    assert shown.returncode == 0
    assert shown.stdout == settings.public_key_path.read_text()
    assert shown.stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_seal_signs_the_head_only_when_there_is_something_new(settings: Settings) -> None:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0  # init seals its own events
    seal = strongroom("audit", "seal", env=env)
    assert seal.returncode == 0
    assert "Nothing to seal" in seal.stdout


def test_a_bad_database_url_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "STRONGROOM_HOME": str(tmp_path), "STRONGROOM_DATABASE_URL": "mysql://x/y"}
    for args in (("init",), ("audit", "verify"), ("serve",)):
        result = strongroom(*args, env=env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "STRONGROOM_DATABASE_URL" in lines[0]
        assert "Traceback" not in result.stderr


def test_a_new_store_needs_its_first_super_admin(settings: Settings) -> None:
    result = strongroom("init", env=env_for(settings))
    assert result.returncode == 2
    assert "--admin-email" in result.stderr


def test_projections_status_and_rebuild(settings: Settings) -> None:
    env = env_for(settings)
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    status = strongroom("projections", "status", env={**env, "COLUMNS": "120"})
    assert status.returncode == 0
    assert "users" in status.stdout and "alert-rules" in status.stdout
    rebuilt = strongroom("projections", "rebuild", "users", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("Rebuilt users from ")
    unknown = strongroom("projections", "rebuild", "nope", env=env)
    assert unknown.returncode == 2
    assert "no projection named 'nope'" in unknown.stderr


def test_a_bad_rules_file_stops_the_server_with_line_and_reason(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[denied_burst]\ncount = -1\n")
    env = env_for(settings, STRONGROOM_ALERT_RULES=str(rules))
    assert strongroom("init", *ADMIN, env=env).returncode == 0
    result = strongroom("serve", "--port", "1", env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "rules.toml, line 2: [denied_burst] count" in line


def test_verify_before_init_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "STRONGROOM_HOME": str(tmp_path / "nowhere")}
    result = strongroom("audit", "verify", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "public key" in result.stderr
