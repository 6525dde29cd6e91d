"""API tokens over real HTTP: officers make them, machines use them, and the record keeps up.

A live server (in this process, on loopback) over a real store (SQLite, and
Postgres when configured). People are set up through the real use cases before
the server starts; requests go through the client SDK and plain httpx, as a
SIEM's would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.clock import ManualClock, SystemClock
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient
from domain.access import Permission
from domain.clock import Clock, clock_installed
from domain.identity import Identity
from tests.stores import stored_bytes

STREAM = "/api/v1/alerts/stream"


@dataclass
class Org:
    url: str
    settings: Settings
    ids: dict[str, str]
    emails: dict[str, str]
    officer: StrongroomClient  # Olu, holding the audit capability, logged in
    root: StrongroomClient  # the super-admin, who does not


@pytest.fixture
def org(settings: Settings) -> Iterator[Org]:
    app = open_system(settings).app
    try:
        world = World(app)
        world.person("olu", teams=("Audit",))
        with world.acting("root"):
            Identity(app).set_permissions(
                world.ids["olu"], grant={Permission.AUDIT}, restrict=set()
            )
    finally:
        app.close()
    with live_server(settings) as url:
        clients = {}
        for label in ("olu", "root"):
            clients[label] = StrongroomClient(url)
            clients[label].login(world.keys[label], world.email(label))
        yield Org(
            url,
            settings,
            {label: str(user_id) for label, user_id in world.ids.items()},
            {label: world.email(label) for label in ("olu", "root")},
            clients["olu"],
            clients["root"],
        )
        for client in clients.values():
            client.close()


def recorded(settings: Settings, clock: Clock | None = None) -> list[Any]:
    """Every event in the store, decoded (opened beside the running server)."""
    app = open_system(settings, clock=clock or SystemClock()).app
    try:
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=100_000)
        ]
    finally:
        app.close()


def named(found: list[Any], name: str) -> list[Any]:
    return [e for e in found if type(e).__qualname__ == name]


def refusals_of(found: list[Any], token_id: str) -> list[Any]:
    return [e for e in named(found, "DeniedAttempt.Recorded") if e.target == f"token:{token_id}"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stream_status(url: str, secret: str) -> tuple[int, str]:
    """Open the alert stream with a token; its status and its first line (then hang up)."""
    with httpx.stream("GET", f"{url}{STREAM}", headers=bearer(secret), timeout=10) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.text
        return 200, next(response.iter_lines())


def test_an_officer_creates_lists_and_revokes_tokens(org: Org) -> None:
    # Olu makes a token for the SIEM: the secret comes back once, with the public id.
    made = org.officer.create_api_token("Splunk", ["stream", "query"], days=30)
    assert made["secret"].startswith("srt_") and len(made["secret"]) == 47
    assert len(made["token_id"]) == 16
    assert made["scopes"] == ["query", "stream"]
    created = datetime.fromisoformat(made["created_at"])
    assert datetime.fromisoformat(made["expires_at"]) - created == timedelta(days=30)
    # Neither expiry given: 30 days.
    default = org.officer.create_api_token("Elastic", ["export"])
    assert (
        datetime.fromisoformat(default["expires_at"])
        - datetime.fromisoformat(default["created_at"])
    ) == timedelta(days=30)

    # The listing names the maker by email and never shows a secret.
    listed = {t["token_id"]: t for t in org.officer.api_tokens()}
    assert set(listed) == {made["token_id"], default["token_id"]}
    splunk = listed[made["token_id"]]
    assert (splunk["name"], splunk["status"], splunk["created_by_email"]) == (
        "Splunk",
        "active",
        org.emails["olu"],
    )
    assert "secret" not in splunk and made["secret"] not in str(listed)

    # Revoked, with a reason; a second revocation is a conflict, an unknown id not found.
    org.officer.revoke_api_token(made["token_id"], "rotated")
    (splunk,) = [t for t in org.officer.api_tokens() if t["token_id"] == made["token_id"]]
    assert (splunk["status"], splunk["revoke_reason"]) == ("revoked", "rotated")
    assert splunk["revoked_by_email"] == org.emails["olu"]
    for token_id, status in ((made["token_id"], 409), ("0" * 16, 404), ("not-an-id", 422)):
        with pytest.raises(ApiError) as refused:
            org.officer.revoke_api_token(token_id)
        assert refused.value.status == status, token_id

    # Who made, listed and revoked what is in the record.
    found = recorded(org.settings)
    assert {e.actor_id for e in named(found, "AccessToken.Created")} == {org.ids["olu"]}
    (revoked,) = named(found, "AccessToken.Revoked")
    assert (revoked.actor_id, revoked.reason) == (org.ids["olu"], "rotated")
    assert len([e for e in named(found, "DirectoryRead.Recorded") if e.what == "tokens"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["query", "write"]}, "scopes.1"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["query", "query"]}, "scopes"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": "30"}, "expires_in_days"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_in_days": 3, "expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "evil\x1b]0;pwned\x07"}, "name"),
        ({"name": "report\u202eslx.exe"}, "name"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(org: Org, body: dict[str, Any], field: str) -> None:
    before = len(recorded(org.settings))
    response = httpx.post(
        f"{org.url}/api/v1/audit/tokens",
        json={"name": "SIEM", "scopes": ["query"], **body},
        headers=bearer(str(org.officer.token)),
    )
    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["detail"]] == [field]
    # Nothing recorded for it (the alert rules may still be raising alerts about the setup).
    later = recorded(org.settings)[before:]
    assert [
        type(e).__qualname__ for e in later if not type(e).__qualname__.startswith("Alert.")
    ] == []


def test_someone_without_the_audit_capability_is_refused_and_recorded(org: Org) -> None:
    made = org.officer.create_api_token("Splunk", ["stream"], days=1)
    # Not even the super-admin manages tokens: that is the officers' capability.
    for attempt in (
        lambda: org.root.create_api_token("mine", ["query"], days=1),
        org.root.api_tokens,
        lambda: org.root.revoke_api_token(made["token_id"]),
    ):
        with pytest.raises(ApiError) as refused:
            attempt()
        assert refused.value.status == 403
    denials = [
        (e.action, e.target)
        for e in named(recorded(org.settings), "DeniedAttempt.Recorded")
        if e.actor_id == org.ids["root"]
    ]
    assert denials == [
        ("create-token", None),
        ("list-tokens", None),
        ("revoke-token", f"token:{made['token_id']}"),
    ]


def test_only_the_hash_of_the_secret_is_stored(org: Org) -> None:
    made = org.officer.create_api_token("Splunk", ["stream"], days=1)
    secret = made["secret"]
    assert stream_status(org.url, secret)[0] == 200  # used, so it passed through every path
    stored = stored_bytes(org.settings)
    # The hash is there (so the search can find what is there) ...
    assert sha256(secret.encode()).hexdigest().encode() in stored
    # ... and the secret is not, in any form.
    random_part = secret.removeprefix("srt_")
    for form in (secret, random_part, base64.urlsafe_b64decode(random_part + "=").hex()):
        assert form.encode() not in stored, form


def test_a_stream_token_follows_the_alert_stream_and_each_use_is_recorded(org: Org) -> None:
    made = org.officer.create_api_token("Splunk", ["stream"], days=1)
    for _ in range(2):
        assert stream_status(org.url, made["secret"]) == (200, "retry: 1000")
    # The SDK takes a token in place of a session: the SIEM gets the alerts (Olu's
    # registration raised "User Added").
    with StrongroomClient(org.url, token=made["secret"]) as siem:
        alert = next(siem.stream_alerts(after=0, type="User Added", timeout=10))
    assert alert["subject"] in (org.ids["olu"], org.ids["root"])

    uses = named(recorded(org.settings), "TokenUse.Used")
    assert len(uses) == 3
    for use in uses:
        assert (use.token_id, use.scope, use.route) == (made["token_id"], "stream", f"GET {STREAM}")
        # It acted as its creator, through the token.
        assert (use.actor_id, use.actor_role) == (org.ids["olu"], "user")
        assert (use.session_id, use.client_ip) == (f"token:{made['token_id']}", "127.0.0.1")

    # The officer's own session is unchanged by all this.
    assert org.officer.me()["id"] == org.ids["olu"]


def test_a_token_reaches_nothing_outside_its_scope(org: Org) -> None:
    stream = org.officer.create_api_token("Splunk", ["stream"], days=1)
    query = org.officer.create_api_token("Notebook", ["query", "export"], days=1)
    headers = bearer(stream["secret"])

    # A query token on the stream: 403, recorded.
    assert stream_status(org.url, query["secret"])[0] == 403
    # Routes that take no token at all, even from a token that holds every other scope.
    attempts = [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/teams", {"name": "Made by a token"}),
        ("GET", "/api/v1/audit/tokens", None),  # a token does not list tokens...
        ("POST", "/api/v1/audit/tokens", {"name": "child", "scopes": ["stream"]}),  # ...or mint
        ("POST", "/api/v1/auth/logout", None),
        ("GET", "/api/v1/alerts", None),  # the queue is not the stream
        ("GET", "/healthz", None),  # nor a route that acts for no one
    ]
    for method, path, body in attempts:
        response = httpx.request(method, f"{org.url}{path}", headers=headers, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert "accepts no API token" in response.json()["detail"]

    # Nothing was done: no team, no token, and the officer's session still works.
    assert "Made by a token" not in {t["name"] for t in org.root.teams()}
    assert len(org.officer.api_tokens()) == 2

    found = recorded(org.settings)
    assert named(found, "TokenUse.Used") == []
    (wrong_scope,) = refusals_of(found, query["token_id"])
    assert "needs the stream scope; the token holds export, query" in wrong_scope.reason
    refused = refusals_of(found, stream["token_id"])
    assert [r.reason.split(" accepts")[0] for r in refused] == [
        "GET /api/v1/users",
        "POST /api/v1/teams",
        "GET /api/v1/audit/tokens",
        "POST /api/v1/audit/tokens",
        "POST /api/v1/auth/logout",
        "GET /api/v1/alerts",
        "GET /healthz",
    ]
    for refusal in [wrong_scope, *refused]:
        assert refusal.action == "use-token"
        assert refusal.actor_id == org.ids["olu"]  # as its creator, through the token
        assert refusal.session_id.startswith("token:")


def test_a_revoked_token_is_401_and_the_refusal_names_it(org: Org) -> None:
    made = org.officer.create_api_token("Splunk", ["stream"], days=1)
    assert stream_status(org.url, made["secret"])[0] == 200
    org.officer.revoke_api_token(made["token_id"], "leaked")
    status, body = stream_status(org.url, made["secret"])
    assert (status, json.loads(body)) == (401, {"detail": "authentication failed"})
    # On any route at all, as for a dead session.
    assert httpx.get(f"{org.url}/healthz", headers=bearer(made["secret"])).status_code == 401

    refused = refusals_of(recorded(org.settings), made["token_id"])
    assert [(r.reason, r.actor_id) for r in refused] == [
        (f"the token {made['token_id']} was revoked", "anonymous")
    ] * 2
    assert refused[0].session_id == f"token:{made['token_id']}"


def test_an_expired_token_is_refused_and_recorded(org: Org) -> None:
    # The server's domain reads the injected clock; a manual one moves a day in an instant.
    with clock_installed(ManualClock(datetime.now(UTC))) as clock:
        assert isinstance(clock, ManualClock)
        made = org.officer.create_api_token("Splunk", ["stream"], days=1)
        assert stream_status(org.url, made["secret"])[0] == 200
        clock.advance(timedelta(days=1))
        assert stream_status(org.url, made["secret"])[0] == 401
        (refusal,) = refusals_of(recorded(org.settings, clock), made["token_id"])
    assert refusal.reason.startswith(f"the token {made['token_id']} expired at ")


def test_a_token_whose_creator_lost_the_audit_capability_is_refused(org: Org) -> None:
    made = org.officer.create_api_token("Splunk", ["stream"], days=1)
    assert stream_status(org.url, made["secret"])[0] == 200
    org.root.set_permissions(org.ids["olu"])  # grants withdrawn: no audit capability
    assert stream_status(org.url, made["secret"])[0] == 401
    (refusal,) = refusals_of(recorded(org.settings), made["token_id"])
    assert org.emails["olu"] in refusal.reason
    assert "no longer holds the audit capability" in refusal.reason


def test_a_session_that_happens_to_start_like_a_token_is_still_a_session(org: Org) -> None:
    # Session tokens are 43 characters; an API token is never that long.
    response = httpx.get(f"{org.url}/api/v1/users/me", headers=bearer("srt_" + "x" * 39))
    assert response.status_code == 401
    (refusal,) = [
        e
        for e in named(recorded(org.settings), "DeniedAttempt.Recorded")
        if e.action == "authenticate"
    ]
    assert refusal.reason == "unknown session"
