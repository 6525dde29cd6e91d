"""API tokens in the domain: officers make, list and revoke them; every use and refusal is recorded.

The story runs on real stores (SQLite, and Postgres when configured) with the
injected clock; the requests a SIEM would make are played the way the audit
middleware plays them: as an anonymous visitor from an address, presenting the
hash of its token.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any
from uuid import uuid4

import pytest

from adapters.clock import ManualClock
from api.world import World, visitor
from domain.access import DEFAULT_PERMISSIONS, Permission, Role, Subject, decide
from domain.application import Strongroom
from domain.envelope import acting_as
from domain.errors import Forbidden, InvalidInput
from domain.identity import Identity
from domain.machine_access import MachineAccess
from domain.token_access import ApiToken, ApiTokens, ScopedRoute, TokenAction
from domain.tokens import (
    MAX_LIFETIME,
    MIN_LIFETIME,
    TokenAlreadyRevoked,
    TokenNotFound,
    TokenRefused,
    checked_expiry,
    checked_scopes,
    token_id_for,
)

SIEM_IP = "203.0.113.5"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def new_secret() -> tuple[str, str]:
    """A token secret as the API makes one, and the hash the domain is given."""
    secret = "srt_" + secrets.token_urlsafe(32)
    return secret, sha256(secret.encode()).hexdigest()


def events(app: Strongroom, start: int = 1) -> list[Any]:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=start, limit=10_000)
    ]


def named(found: list[Any], name: str) -> list[Any]:
    return [e for e in found if type(e).__qualname__ == name]


def position(app: Strongroom) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.fixture
def world(app: Strongroom) -> World:
    w = World(app)
    w.person("olu", teams=("Audit",))
    w.person("ines", teams=("Audit",))
    w.person("rae", teams=("Lab",))
    with w.acting("root"):
        for officer in ("olu", "ines"):
            Identity(app).set_permissions(w.ids[officer], grant={Permission.AUDIT}, restrict=set())
    return w


def make_token(
    app: Strongroom, world: World, scopes: tuple[str, ...] = ("stream",), *, by: str = "olu"
) -> tuple[str, str]:
    """A token made by `by` for 30 days; its public id and hash."""
    _, digest = new_secret()
    with world.acting(by):
        token = MachineAccess(app).create_token(
            name="Splunk forwarder", scopes=scopes, token_hash=digest, expires_in_days=30
        )
    return token.token_id, digest


def use(app: Strongroom, digest: str, scope: str | None, route: str) -> Any:
    with acting_as(visitor(SIEM_IP)):
        return MachineAccess(app).authenticate_token(digest, scope, route)


def test_an_officer_makes_lists_and_revokes_a_token(
    app: Strongroom, world: World, clock: ManualClock
) -> None:
    # Olu makes a token for the SIEM; the domain is given the hash only.
    secret, digest = new_secret()
    with world.acting("olu"):
        token = MachineAccess(app).create_token(
            name="Splunk forwarder",
            scopes=["stream", "query", "stream"],
            token_hash=digest,
            expires_in_days=30,
        )
    assert token.token_id == token_id_for(digest) and len(token.token_id) == 16
    assert token.scopes == ["query", "stream"]
    assert token.expires_at == clock.now() + timedelta(days=30)
    (created,) = named(events(app), "AccessToken.Created")
    assert created.actor_id == str(world.ids["olu"])
    assert created.token_hash == digest
    assert secret not in repr(vars(created))

    # Ines, another officer, lists every token with its maker's email; the read is recorded.
    with world.acting("ines"):
        (listed,) = MachineAccess(app).list_tokens()
    assert (listed.token_id, listed.name, listed.status) == (
        token.token_id,
        "Splunk forwarder",
        "active",
    )
    assert listed.created_by_email == world.email("olu")
    (read,) = named(events(app), "DirectoryRead.Recorded")
    assert (read.what, read.count, read.actor_id) == ("tokens", 1, str(world.ids["ines"]))

    # Ines revokes Olu's token: any officer may; who, when and why are kept.
    clock.advance(timedelta(hours=2))
    with world.acting("ines"):
        MachineAccess(app).revoke_token(token.token_id, "left on a shared laptop")
        (listed,) = MachineAccess(app).list_tokens()
    assert listed.status == "revoked"
    assert listed.revoked_by_email == world.email("ines")
    assert listed.revoked_at == clock.now()
    assert listed.revoke_reason == "left on a shared laptop"

    # Revoking twice is a conflict; an unknown token is not found.
    with world.acting("ines"), pytest.raises(TokenAlreadyRevoked):
        MachineAccess(app).revoke_token(token.token_id)
    with world.acting("ines"), pytest.raises(TokenNotFound):
        MachineAccess(app).revoke_token("0" * 16)


def test_someone_without_the_audit_capability_is_refused_and_it_is_recorded(
    app: Strongroom, world: World
) -> None:
    token_id, _ = make_token(app, world)
    _, digest = new_secret()
    for label in ("rae", "root"):  # not even the super-admin: tokens are officers' business
        with world.acting(label), pytest.raises(Forbidden):
            MachineAccess(app).create_token(
                name="mine", scopes=["query"], token_hash=digest, expires_in_days=1
            )
        with world.acting(label), pytest.raises(Forbidden):
            MachineAccess(app).list_tokens()
        with world.acting(label), pytest.raises(Forbidden):
            MachineAccess(app).revoke_token(token_id)
    refused = [
        (e.actor_id, e.action, e.target) for e in named(events(app), "DeniedAttempt.Recorded")
    ]
    for label in ("rae", "root"):
        who = str(world.ids[label])
        assert (who, "create-token", None) in refused
        assert (who, "list-tokens", None) in refused
        assert (who, "revoke-token", f"token:{token_id}") in refused
    assert len(named(events(app), "AccessToken.Created")) == 1


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"name": "bad\x1b[2Jname"}, "name"),
        ({"name": "\u202eexe.jpg"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "   "}, "name"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["query", "write"]}, "scopes"),
        ({"token_hash": "not-a-hash"}, "token_hash"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": None}, "expires_in_days"),
        ({"expires_in_days": None, "expires_at": NOW + timedelta(minutes=59)}, "expires_at"),
        ({"expires_in_days": None, "expires_at": NOW + timedelta(days=366)}, "expires_at"),
        ({"expires_in_days": None, "expires_at": datetime(2026, 4, 1)}, "expires_at"),
        ({"expires_at": NOW + timedelta(days=2)}, "expires_at"),
    ],
)
def test_bad_input_names_the_field_and_records_nothing(
    app: Strongroom, world: World, given: dict[str, Any], field: str
) -> None:
    _, digest = new_secret()
    command: dict[str, Any] = {
        "name": "SIEM",
        "scopes": ["query"],
        "token_hash": digest,
        "expires_in_days": 30,
        **given,
    }
    before = position(app)
    with world.acting("olu"), pytest.raises(InvalidInput) as refused:
        MachineAccess(app).create_token(**command)
    assert refused.value.field == field
    assert position(app) == before


def test_expiry_bounds_are_one_hour_to_a_year() -> None:
    assert checked_expiry(NOW, expires_at=NOW + MIN_LIFETIME, expires_in_days=None)
    assert checked_expiry(NOW, expires_at=NOW + MAX_LIFETIME, expires_in_days=None)
    for outside in (MIN_LIFETIME - timedelta(seconds=1), MAX_LIFETIME + timedelta(seconds=1)):
        with pytest.raises(InvalidInput):
            checked_expiry(NOW, expires_at=NOW + outside, expires_in_days=None)
    assert checked_expiry(NOW, expires_at=None, expires_in_days=365) == NOW + MAX_LIFETIME
    assert checked_scopes(["stream", "export", "stream"]) == ["export", "stream"]


def subject(*, audit: bool = True, active: bool = True, role: Role = Role.USER) -> Subject:
    granted = {Permission.AUDIT} if audit else set()
    return Subject(id=uuid4(), role=role, active=active, permissions=DEFAULT_PERMISSIONS | granted)


STREAM_ROUTE = ScopedRoute("0123456789abcdef", frozenset({"stream"}), "stream", "GET /s")


@pytest.mark.parametrize(
    ("actor", "action", "resource", "allowed"),
    [
        (subject(), TokenAction.CREATE_TOKEN, ApiTokens(), True),
        (subject(), TokenAction.LIST_TOKENS, ApiTokens(), True),
        (subject(), TokenAction.REVOKE_TOKEN, ApiToken("0123456789abcdef"), True),
        (subject(), TokenAction.USE_TOKEN, ApiToken("0123456789abcdef"), True),
        (subject(), TokenAction.USE_TOKEN, STREAM_ROUTE, True),
        (subject(audit=False, role=Role.SUPER_ADMIN), TokenAction.CREATE_TOKEN, ApiTokens(), False),
        (subject(audit=False), TokenAction.LIST_TOKENS, ApiTokens(), False),
        (subject(audit=False), TokenAction.REVOKE_TOKEN, ApiToken("0123456789abcdef"), False),
        (subject(audit=False), TokenAction.USE_TOKEN, STREAM_ROUTE, False),
        (subject(active=False), TokenAction.USE_TOKEN, ApiToken("0123456789abcdef"), False),
        (subject(role=Role.ESCROW), TokenAction.USE_TOKEN, STREAM_ROUTE, False),
        # Actions that make no sense on a kind are denied, not allowed by accident.
        (subject(), TokenAction.USE_TOKEN, ApiTokens(), False),
        (subject(), TokenAction.CREATE_TOKEN, ApiToken("0123456789abcdef"), False),
        (subject(), TokenAction.REVOKE_TOKEN, STREAM_ROUTE, False),
    ],
)
def test_the_rules(actor: Subject, action: TokenAction, resource: Any, allowed: bool) -> None:
    assert bool(decide(actor, action, resource)) is allowed


def test_each_use_is_recorded_as_the_creator_with_the_token_as_session(
    app: Strongroom, world: World
) -> None:
    token_id, digest = make_token(app, world, ("stream", "query"))
    before = position(app)
    for _ in range(3):
        principal = use(app, digest, "stream", "GET /api/v1/alerts/stream")
    assert (principal.user_id, principal.role) == (world.ids["olu"], Role.USER)
    used = named(events(app, before + 1), "TokenUse.Used")
    assert len(used) == 3
    for event in used:
        assert (event.token_id, event.scope, event.route) == (
            token_id,
            "stream",
            "GET /api/v1/alerts/stream",
        )
        assert (event.actor_id, event.actor_role) == (str(world.ids["olu"]), "user")
        assert (event.session_id, event.client_ip) == (f"token:{token_id}", SIEM_IP)
    # Each use is its own aggregate: a polling SIEM grows no one history.
    assert len({event.originator_id for event in used}) == 3

    # Checking a token (the middleware's look-ahead) records nothing.
    now = position(app)
    with acting_as(visitor(SIEM_IP)):
        assert MachineAccess(app).check_token(digest).principal == principal
        assert MachineAccess(app).check_token(new_secret()[1]).refusal == "unknown API token"
    assert position(app) == now


def test_a_token_outside_its_scope_is_refused_as_its_creator_and_recorded(
    app: Strongroom, world: World
) -> None:
    token_id, digest = make_token(app, world, ("stream",))
    before = position(app)
    with pytest.raises(Forbidden):
        use(app, digest, "query", "POST /api/v1/audit/query")
    with pytest.raises(Forbidden):
        use(app, digest, None, "GET /api/v1/users")
    found = events(app, before + 1)
    assert named(found, "TokenUse.Used") == []
    refusals = named(found, "DeniedAttempt.Recorded")
    assert [(e.action, e.target) for e in refusals] == [("use-token", f"token:{token_id}")] * 2
    assert "needs the query scope; the token holds stream" in refusals[0].reason
    assert "GET /api/v1/users accepts no API token" in refusals[1].reason
    for event in refusals:
        assert (event.actor_id, event.session_id) == (str(world.ids["olu"]), f"token:{token_id}")


def test_revoked_expired_and_unknown_tokens_are_refused_and_recorded(
    app: Strongroom, world: World, clock: ManualClock
) -> None:
    revoked_id, revoked = make_token(app, world)
    expiring_id, expiring = make_token(app, world)
    with world.acting("olu"):
        MachineAccess(app).revoke_token(revoked_id, "rotated")
    clock.advance(timedelta(days=30))  # the second token's last instant has passed
    before = position(app)
    for digest in (revoked, expiring, new_secret()[1]):
        with pytest.raises(TokenRefused):
            use(app, digest, "stream", "GET /api/v1/alerts/stream")
    refusals = named(events(app, before + 1), "DeniedAttempt.Recorded")
    assert [(e.target, e.session_id, e.actor_id) for e in refusals] == [
        (f"token:{revoked_id}", f"token:{revoked_id}", "anonymous"),
        (f"token:{expiring_id}", f"token:{expiring_id}", "anonymous"),
        (None, None, "anonymous"),
    ]
    assert refusals[0].reason == f"the token {revoked_id} was revoked"
    assert refusals[1].reason.startswith(f"the token {expiring_id} expired at 2026-03-31T09:00")
    assert refusals[2].reason == "unknown API token"
    assert all(e.client_ip == SIEM_IP for e in refusals)
    assert named(events(app, before + 1), "TokenUse.Used") == []


def test_a_token_is_only_as_good_as_its_creator(app: Strongroom, world: World) -> None:
    olu_token, olu_digest = make_token(app, world, by="olu")
    ines_token, ines_digest = make_token(app, world, by="ines")
    use(app, olu_digest, "stream", "GET /api/v1/alerts/stream")

    # Olu loses the audit capability; Ines is deactivated: neither token works.
    with world.acting("root"):
        Identity(app).set_permissions(world.ids["olu"], grant=set(), restrict=set())
        Identity(app).deactivate_user(world.ids["ines"])
    before = position(app)
    for digest in (olu_digest, ines_digest):
        with pytest.raises(TokenRefused):
            use(app, digest, "stream", "GET /api/v1/alerts/stream")
    refusals = named(events(app, before + 1), "DeniedAttempt.Recorded")
    assert [e.target for e in refusals] == [f"token:{olu_token}", f"token:{ines_token}"]
    assert world.email("olu") in refusals[0].reason
    assert "no longer holds the audit capability" in refusals[0].reason
    assert world.email("ines") in refusals[1].reason
    assert "not active" in refusals[1].reason

    # Given the capability back, Olu's token works again (it was never revoked).
    with world.acting("root"):
        Identity(app).set_permissions(world.ids["olu"], grant={Permission.AUDIT}, restrict=set())
    assert use(app, olu_digest, "stream", "GET /api/v1/alerts/stream").user_id == world.ids["olu"]


def test_the_route_a_use_names_is_bounded_and_escaped(app: Strongroom, world: World) -> None:
    token_id, digest = make_token(app, world)
    before = position(app)
    with pytest.raises(Forbidden):
        use(app, digest, None, "GET /\x1b[2J" + "a" * 500)
    (refusal,) = named(events(app, before + 1), "DeniedAttempt.Recorded")
    assert "\x1b" not in refusal.reason and "\\u001b[2J" in refusal.reason
    assert len(refusal.reason) < 400


def test_a_hash_that_only_shares_the_public_id_is_unknown(app: Strongroom, world: World) -> None:
    # The public id is the start of the hash; the whole hash must match.
    token_id, digest = make_token(app, world)
    impostor = digest[:16] + ("0" if digest[16] != "0" else "1") + digest[17:]
    with pytest.raises(TokenRefused, match="unknown API token"):
        use(app, impostor, "stream", "GET /api/v1/alerts/stream")
    assert use(app, digest, "stream", "GET /api/v1/alerts/stream").token_id == token_id
