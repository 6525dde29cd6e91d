"""`strongroom audit token create|list|revoke` as an officer types them, against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from adapters.settings import Settings
from tests.api.cli_runner import add_officer, ok, served, strongroom

STREAM = "/api/v1/alerts/stream"


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    """A shell logged in as the super-admin, beside a live server."""
    with served(settings) as shell:
        yield shell


def stream_status(env: dict[str, str], secret: str) -> int:
    url = env["STRONGROOM_SERVER"] + STREAM
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {secret}"}) as response:
        return response.status_code


def test_an_officer_makes_lists_and_revokes_a_token_from_the_shell(env: dict[str, str]) -> None:
    add_officer(env)  # Olu, the officer, is now the one logged in

    # The secret is printed once, with a warning on stderr.
    scopes = ("--scope", "stream", "--scope", "query")
    made = strongroom("audit", "token", "create", "Splunk", *scopes, "--days", "7", env=env)
    assert made.returncode == 0, made.stderr
    printed = dict(line.split(None, 1) for line in made.stdout.strip().splitlines())
    assert printed["name"] == "Splunk" and printed["scopes"] == "query, stream"
    secret, token_id = printed["secret"], printed["token_id"]
    assert secret.startswith("srt_")
    assert "not shown again" in made.stderr
    assert stream_status(env, secret) == 200

    # --json gives the API's shape, for scripts that hand the secret to a SIEM.
    made_json = strongroom(
        "audit", "token", "create", "Notebook", "--scope", "export", "--json", env=env
    )
    issued = json.loads(made_json.stdout)
    assert issued["scopes"] == ["export"] and issued["secret"].startswith("srt_")
    assert "not shown again" in made_json.stderr

    # The listing: one row per token, the maker by email, no secret.
    listing = ok("audit", "token", "list", env=env)
    assert token_id in listing and issued["token_id"] in listing
    assert "officer@enclave.edu" in listing
    assert secret not in listing and issued["secret"] not in listing
    listed = json.loads(ok("audit", "token", "list", "--json", env=env))
    assert {t["token_id"]: t["status"] for t in listed} == {
        token_id: "active",
        issued["token_id"]: "active",
    }

    # Revoked: the SIEM is refused from now on.
    assert ok("audit", "token", "revoke", token_id, "--reason", "rotated", env=env).strip() == (
        f"Revoked token {token_id}."
    )
    assert stream_status(env, secret) == 401
    listed = json.loads(ok("audit", "token", "list", "--json", env=env))
    assert {t["token_id"]: t["status"] for t in listed}[token_id] == "revoked"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scope", "write"), "error: 422: scopes.0: "),
        (("--scope", "query", "--days", "0"), "error: 422: expires_in_days: "),
        (("--scope", "query", "--days", "366"), "error: 422: expires_in_days: "),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    add_officer(env)
    result = strongroom("audit", "token", "create", "SIEM", *args, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message), line


def test_refusals_are_one_line(env: dict[str, str]) -> None:
    # The super-admin does not hold the audit capability.
    refused = strongroom("audit", "token", "create", "mine", "--scope", "query", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: 403: create-token: only compliance officers (the audit capability) manage API "
        "tokens"
    ]
    add_officer(env)
    unknown = strongroom("audit", "token", "revoke", "0123456789abcdef", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: 404: ")
    malformed = strongroom("audit", "token", "revoke", "Splunk", env=env)
    assert malformed.returncode == 1
    assert malformed.stderr.startswith("error: 422: token_id: ")
