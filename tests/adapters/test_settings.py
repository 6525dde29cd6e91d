"""STRONGROOM_DATABASE_URL and friends become one typed Settings, or a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.settings import PostgresStore, Settings, SettingsError, SqliteStore


def test_unset_url_means_a_sqlite_file_under_the_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"STRONGROOM_HOME": str(tmp_path)})
    assert settings.store == SqliteStore(str(tmp_path / "strongroom.db"))
    env = settings.app_env()
    assert env["STRONGROOM_PERSISTENCE_MODULE"].endswith("ChainedSQLiteFactory")
    assert env["STRONGROOM_SQLITE_DBNAME"] == str(tmp_path / "strongroom.db")
    assert env["STRONGROOM_AUDIT_SIGNING_KEY"] == str(tmp_path / "audit" / "signing-key.pem")


def test_sqlite_url_absolute_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"  # four slashes in all for an absolute path
    settings = Settings.from_env({"STRONGROOM_DATABASE_URL": url})
    assert settings.store == SqliteStore(str(tmp_path / "x.db"))


def test_postgres_url_becomes_the_library_settings() -> None:
    settings = Settings.from_env(
        {"STRONGROOM_DATABASE_URL": "postgresql://audit:s%40cret@db.internal:6543/enclave"}
    )
    assert settings.store == PostgresStore(
        host="db.internal", port=6543, user="audit", password="s@cret", dbname="enclave"
    )
    env = settings.app_env()
    assert env["STRONGROOM_POSTGRES_PASSWORD"] == "s@cret"
    assert env["STRONGROOM_POSTGRES_PORT"] == "6543"
    assert "s@cret" not in settings.store.describe()


def test_trust_auth_gets_an_empty_password() -> None:
    env = Settings.from_env(
        {"STRONGROOM_DATABASE_URL": "postgresql://postgres@127.0.0.1/db"}
    ).app_env()
    assert env["STRONGROOM_POSTGRES_PASSWORD"] == ""
    assert env["STRONGROOM_POSTGRES_PORT"] == "5432"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://u@h/db", "unsupported scheme 'mysql'"),
        ("just-a-path.db", "unsupported scheme '(none)'"),
        ("postgresql://h:notaport/db", "not a valid URL"),
        ("postgresql:///db", "names no host"),
        ("postgresql://h:5432/", "must name one database"),
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_bad_urls_are_one_line_errors_naming_the_variable(url: str, reason: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"STRONGROOM_DATABASE_URL": url})
    message = str(error.value)
    assert message.startswith("STRONGROOM_DATABASE_URL: ")
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRONGROOM_CHECKPOINT_EVERY", "0"),
        ("STRONGROOM_CHECKPOINT_EVERY", "ten"),
        ("STRONGROOM_CHECKPOINT_SECONDS", "-1"),
        ("STRONGROOM_SNAPSHOT_INTERVAL", "x"),
    ],
)
def test_bad_numbers_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env({name: value})


def test_each_store_has_its_own_witness(tmp_path: Path) -> None:
    home = {"STRONGROOM_HOME": str(tmp_path)}
    one = Settings.from_env(home)
    other = Settings.from_env({**home, "STRONGROOM_DATABASE_URL": "postgresql://h/db"})
    assert one.witness_path != other.witness_path
    assert one.witness_path.parent == other.witness_path.parent == tmp_path / "audit"
