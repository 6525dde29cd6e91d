"""`strongroom compliance …` and `strongroom project …` as an administrator types them,
against a live server: people by email, requirements, levels and projects by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from adapters.settings import Settings
from tests.api.cli_runner import ok, served, strongroom

RAE = "rae@enclave.edu"


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    """Root logged in, and Rae: registered, in team DAC, active."""
    with served(settings) as env:
        ok("team", "create", "DAC", env=env)
        ok("user", "register", "--email", RAE, "--name", "Rae", env=env)
        ok("team", "add", "DAC", RAE, env=env)
        ok("user", "activate", RAE, env=env)
        yield env


def rows(listing: str) -> list[list[str]]:
    """A listing printed into a pipe: a header, then tab-separated rows."""
    return [line.split("\t") for line in listing.splitlines()[1:]]


def one_line_error(args: tuple[str, ...], env: dict[str, str], code: int = 1) -> str:
    result = strongroom(*args, env=env)
    assert result.returncode == code, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_administrator_runs_compliance_from_the_shell(env: dict[str, str]) -> None:
    # The vocabulary: a yearly training, a requirement with no limit, a level.
    created = ok(
        "compliance", "requirement", "add", "DAC Compliance", "--lifespan-days", "365", env=env
    )
    assert created.startswith("Created requirement DAC Compliance (")
    ok("compliance", "requirement", "add", "US citizen", env=env)
    ok("compliance", "requirement", "change", "dac compliance", "--description", "yearly", env=env)
    requirements = {r[1]: r for r in rows(ok("compliance", "requirement", "list", env=env))}
    assert requirements["DAC Compliance"][2:] == ["365", "yearly"]
    assert requirements["US citizen"][2] == "no limit"
    ok("compliance", "level", "add", "HIPAA", "--requirement", "DAC Compliance", env=env)
    assert [r[1:3] for r in rows(ok("compliance", "level", "list", env=env))] == [
        ["HIPAA", "DAC Compliance"]
    ]

    # Projects by name; the sub-project names its parent.
    ok("project", "create", "DAC", "--level", "HIPAA", env=env)
    ok("project", "create", "DUA", "--level", "hipaa", "--parent", "DAC", env=env)

    # Not certified: not admitted, and the refusal says for what.
    refusal = one_line_error(("project", "add-member", "DAC", RAE), env)
    assert refusal == (
        f"error: 403: add-project-member: {RAE} cannot join DAC: "
        "HIPAA: DAC Compliance not certified"
    )
    soon = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    ok("compliance", "certify", RAE, "DAC Compliance", "--expires", soon, env=env)
    ok("project", "add-member", "DAC", RAE, "--restrict", "cannot-download", env=env)

    shown = ok("project", "show", "DAC", env=env)
    assert ["security_level", "HIPAA"] in [line.split() for line in shown.splitlines()]
    members = shown[shown.index("email\tname\trestrictions") :]
    assert rows(members) == [[RAE, "Rae", "cannot-download", "True", ""]]
    as_json = json.loads(ok("project", "show", "DAC", "--json", env=env))
    assert as_json["members"][0]["restrictions"] == ["cannot-download"]
    listed = {r[1]: r for r in rows(ok("project", "list", env=env))}
    assert listed["DUA"][2:6] == ["HIPAA", "DAC", "False", "False"]
    assert listed["DAC"][6:] == ["1", "0"]

    expiring = rows(ok("compliance", "certifications", "--expiring-within", "30", env=env))
    assert [(c[0], c[2], c[3], c[4][:10]) for c in expiring] == [
        (RAE, "DAC Compliance", "certified", soon)
    ]
    assert rows(ok("compliance", "certifications", "--expiring-within", "10", env=env)) == []
    mine = json.loads(ok("compliance", "certifications", "--user", RAE, "--json", env=env))
    assert [c["email"] for c in mine] == [RAE]

    # Tags on a resource, listed by project.
    file_id = str(uuid4())
    ok("project", "tag", "file", file_id, "DAC", env=env)
    assert rows(ok("project", "tags", "--project", "DAC", env=env)) == [["file", file_id, "DAC"]]

    # Decertified: the lapse is listed with its reason.
    ok("compliance", "decertify", RAE, "DAC Compliance", "--reason", "record falsified", env=env)
    lapsed = rows(ok("compliance", "non-compliant", env=env))
    assert [(m[0], m[1], m[2]) for m in lapsed] == [("DAC", RAE, "Rae")]
    assert "DAC Compliance revoked" in lapsed[0][3]

    # A level in use loses a requirement only when acknowledged.
    ok("compliance", "level", "add-requirement", "HIPAA", "US citizen", env=env)
    refusal = one_line_error(
        ("compliance", "level", "remove-requirement", "HIPAA", "US citizen"), env
    )
    assert refusal.startswith("error: 409: HIPAA is used by DAC, DUA")
    removed = ok(
        "compliance", "level", "remove-requirement", "HIPAA", "US citizen", "--acknowledge", env=env
    )
    assert removed.strip() == "Removed; projects affected: DAC, DUA."

    # Parking, restrictions, untagging and leaving.
    ok("project", "park", "DAC", "--reason", "grant ended", env=env)
    assert {r[1]: r[4] for r in rows(ok("project", "list", env=env))}["DAC"] == "True"
    ok("project", "unpark", "DAC", env=env)
    ok("project", "restrict", "DAC", RAE, env=env)
    assert (
        json.loads(ok("project", "show", "DAC", "--json", env=env))["members"][0]["restrictions"]
        == []
    )
    ok("project", "untag", "file", file_id, "DAC", env=env)
    assert rows(ok("project", "tags", env=env)) == []
    ok("project", "remove-member", "DAC", RAE, "--reason", "left the study", env=env)
    assert json.loads(ok("project", "show", "DAC", "--json", env=env))["members"] == []


def test_mistakes_are_one_line_and_a_non_zero_exit(env: dict[str, str]) -> None:
    ok("compliance", "requirement", "add", "Training", "--lifespan-days", "30", env=env)
    # Unknown names are said so before anything is sent.
    assert one_line_error(("project", "show", "Nope"), env) == (
        "error: no project you can see is named Nope"
    )
    assert one_line_error(("compliance", "certify", "nobody@enclave.edu", "Training"), env) == (
        "error: no user you can see has the email nobody@enclave.edu"
    )
    # The server's 422 names the field.
    naive = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat()
    refusal = one_line_error(("compliance", "certify", RAE, "Training", "--expires", naive), env)
    assert refusal.startswith("error: 422: expires_at: ")
    far = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    refusal = one_line_error(("compliance", "certify", RAE, "Training", "--expires", far), env)
    assert refusal.startswith("error: 422: expires_at: Training certifications last at most 30")
    refusal = one_line_error(("compliance", "requirement", "add", "bad\u202ename"), env)
    assert refusal.startswith("error: 422: name: control and bidirectional")
    # A choice outside its list is refused by the command line itself (usage error).
    bad = strongroom("project", "tag", "disk", str(uuid4()), "DAC", env=env)
    assert bad.returncode == 2
    # Someone without the right is refused, and told so in one line.
    ok("login", "--email", RAE, env=env)
    refusal = one_line_error(("compliance", "requirement", "add", "Mine"), env)
    assert refusal.startswith("error: 403: manage-security-levels: only admins")
    assert one_line_error(("compliance", "certifications"), env).startswith(
        "error: 403: view-certifications"
    )
