"""Time travel over HTTP and from the shell: officers look back, and each look is recorded.

A real server on loopback and the SDK as an officer would use it; the test keeps
its own application on the same store (as a second process would) to read what
was recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from adapters.bootstrap import open_system
from adapters.settings import Settings
from api.local_server import live_server
from api.world import World
from client.api import ApiError, StrongroomClient
from domain.access import Role
from domain.application import Strongroom
from tests.api.cli_runner import add_officer, ok, served, strongroom


@dataclass
class Site:
    url: str
    app: Strongroom
    world: World
    officer: StrongroomClient
    root: StrongroomClient


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    app = open_system(settings).app
    world = World(app)
    world.person("officer", teams=("A",), audit=True)
    world.person("ada", Role.SUB_ADMIN, teams=("A",))
    with live_server(settings) as url:
        officer = StrongroomClient(url)
        officer.login(world.keys["officer"], world.email("officer"))
        root = StrongroomClient(url)  # a super-admin, but no audit capability
        root.login(world.keys["root"], world.email("root"))
        yield Site(url, app, world, officer, root)
        officer.close()
        root.close()
    app.close()


def recorded(app: Strongroom, qualname: str) -> list[Any]:
    """The events of one type recorded so far, in log order."""
    found, start = [], 1
    while page := app.recorder.select_notifications(start=start, limit=1000):
        for notification in page:
            if notification.topic.endswith(f":{qualname}"):
                found.append(app.mapper.to_domain_event(notification))
        start = page[-1].id + 1
    return found


def positions_of(app: Strongroom, aggregate_id: UUID) -> dict[str, int]:
    """Where each of an aggregate's events is in the log, by the event's name."""
    found, start = {}, 1
    while page := app.recorder.select_notifications(start=start, limit=1000):
        for notification in page:
            if notification.originator_id == aggregate_id:
                found[notification.topic.rpartition(".")[2]] = notification.id
        start = page[-1].id + 1
    return found


def test_an_officer_looks_back_at_a_person_and_each_look_is_recorded(site: Site) -> None:
    ada = site.world.ids["ada"]
    officer = str(site.world.ids["officer"])
    changed = positions_of(site.app, ada)["RoleChanged"]

    # Just before her role changed, and at that change.
    before = site.officer.state_as_of(str(ada), changed - 1)
    at = site.officer.state_as_of(str(ada), changed)
    assert (before["type"], before["state"]["role"], at["state"]["role"]) == (
        "User",
        "user",
        "sub-admin",
    )
    assert at["version"] == before["version"] + 1
    assert (before["as_of_position"], at["as_of_position"]) == (changed - 1, changed)
    assert at["state"]["email"] == site.world.email("ada")
    assert at["withheld"] == []

    # As of the moment that version was recorded: the same answer.
    by_time = site.officer.state_as_of(str(ada), at["recorded_at"])
    assert (by_time["version"], by_time["state"]) == (at["version"], at["state"])
    assert by_time["as_of_position"] >= changed

    # Before she existed: not found, and saying so.
    with pytest.raises(ApiError) as missing:
        site.officer.state_as_of(str(ada), 0)
    assert missing.value.status == 404
    assert "did not exist at position 0" in missing.value.detail

    # Every look is recorded: who, what, as of what, and the version shown.
    reads = [
        (r.actor_id, r.what, r.target, r.as_of, r.shown_version)
        for r in recorded(site.app, "HistoryRead.Recorded")
    ]
    assert reads == [
        (officer, "aggregate", str(ada), str(changed - 1), before["version"]),
        (officer, "aggregate", str(ada), str(changed), at["version"]),
        (officer, "aggregate", str(ada), by_time["as_of"], at["version"]),
        (officer, "aggregate", str(ada), "0", None),
    ]
    assert by_time["as_of"] == datetime.fromisoformat(at["recorded_at"]).isoformat()


def test_an_officer_sees_the_organisation_as_of_a_time(site: Site) -> None:
    now = datetime.now(UTC).isoformat()
    organisation = site.officer.organisation_as_of(now)
    people = {p["email"]: p for p in organisation["people"]}
    ada = people[site.world.email("ada")]
    assert (ada["role"], ada["active"], [t["name"] for t in ada["teams"]]) == (
        "sub-admin",
        True,
        [f"A {site.world.tag}"],
    )
    assert "audit" in people[site.world.email("officer")]["permissions"]
    team = next(t for t in organisation["teams"] if t["name"] == f"A {site.world.tag}")
    assert [m["email"] for m in team["members"]] == sorted(
        [site.world.email("ada"), site.world.email("officer")]
    )
    assert organisation["more"] == {}

    # Before the officer was registered, only root was there.
    registered = positions_of(site.app, site.world.ids["officer"])["Registered"]
    earlier = site.officer.organisation_as_of(registered - 1)
    assert [p["email"] for p in earlier["people"]] == [site.world.email("root")]

    reads = recorded(site.app, "HistoryRead.Recorded")
    assert [(r.what, r.target, r.position) for r in reads] == [
        ("organisation", None, organisation["as_of_position"]),
        ("organisation", None, registered - 1),
    ]


def test_anyone_else_is_refused_and_the_refusal_recorded(site: Site) -> None:
    ada = str(site.world.ids["ada"])
    with pytest.raises(ApiError) as aggregate:
        site.root.state_as_of(ada, 1)
    with pytest.raises(ApiError) as organisation:
        site.root.organisation_as_of(1)
    assert (aggregate.value.status, organisation.value.status) == (403, 403)
    refusals = [
        (r.actor_id, r.action, r.reason) for r in recorded(site.app, "DeniedAttempt.Recorded")
    ]
    root = str(site.world.ids["root"])
    officers_only = "only compliance officers (the audit capability) may do this"
    assert refusals[-2:] == [
        (root, "read-state-as-of", officers_only),
        (root, "read-organisation-as-of", officers_only),
    ]
    assert recorded(site.app, "HistoryRead.Recorded") == []


def test_an_officers_query_token_may_look_back_and_other_scopes_may_not(site: Site) -> None:
    query = site.officer.create_api_token("auditor's script", ["query"], days=1)
    stream = site.officer.create_api_token("siem", ["stream"], days=1)
    ada = site.world.ids["ada"]

    def ask(token: dict[str, Any]) -> httpx.Response:
        return httpx.get(
            f"{site.url}/api/v1/audit/aggregates/{ada}",
            params={"as_of": "1"},
            headers={"Authorization": f"Bearer {token['secret']}"},
        )

    assert ask(query).status_code == 404  # allowed: ada did not exist at position 1
    refused = ask(stream)
    assert refused.status_code == 403
    assert "needs the query scope" in refused.json()["detail"]
    # The look is recorded as the officer, through the token; the refusal too.
    [read] = recorded(site.app, "HistoryRead.Recorded")
    assert (read.actor_id, read.session_id, read.target) == (
        str(site.world.ids["officer"]),
        f"token:{query['token_id']}",
        str(ada),
    )
    denied = recorded(site.app, "DeniedAttempt.Recorded")[-1]
    assert denied.session_id == f"token:{stream['token_id']}"


@pytest.mark.parametrize(
    ("as_of", "reason"),
    [
        ("-1", "neither a position"),
        ("yesterday", "neither a position"),
        ("2026-03-01T09:00:00", "needs its UTC offset"),
        ("", "1 to 64 characters"),
        (str(2**63), "at most"),
        ("10000000", "beyond the end of the log"),
    ],
)
def test_an_unusable_as_of_is_422_naming_it_and_nothing_is_recorded(
    site: Site, as_of: str, reason: str
) -> None:
    before = (
        len(recorded(site.app, "HistoryRead.Recorded")),
        len(recorded(site.app, "DeniedAttempt.Recorded")),
    )
    ada = str(site.world.ids["ada"])
    asked = [(site.officer, "aggregate"), (site.officer, "organisation")]
    if "beyond" not in reason:
        # The end of the log is checked for officers only: others learn nothing of it.
        asked += [(site.root, "aggregate"), (site.root, "organisation")]
    for client, what in asked:
        with pytest.raises(ApiError) as refused:
            if what == "aggregate":
                client.state_as_of(ada, as_of)
            else:
                client.organisation_as_of(as_of)
        assert refused.value.status == 422
        [problem] = refused.value.detail
        assert problem["field"] == "as_of"
        assert reason in problem["reason"]
    after = (
        len(recorded(site.app, "HistoryRead.Recorded")),
        len(recorded(site.app, "DeniedAttempt.Recorded")),
    )
    assert after == before


def test_the_url_forms_of_a_bad_request_are_named_too(site: Site) -> None:
    headers = {"Authorization": f"Bearer {site.officer.token}"}
    base = f"{site.url}/api/v1/audit"
    ada = site.world.ids["ada"]
    # A "+" left unencoded in a URL arrives as a space: the answer says how to write it.
    plus = httpx.get(f"{base}/aggregates/{ada}?as_of=2026-03-01T09:00:00+00:00", headers=headers)
    assert plus.status_code == 422
    assert "%2B" in plus.json()["detail"][0]["reason"]
    assert httpx.get(f"{base}/organisation", headers=headers).json()["detail"][0]["field"] == (
        "as_of"
    )
    not_an_id = httpx.get(f"{base}/aggregates/ada?as_of=1", headers=headers)
    assert (not_an_id.status_code, not_an_id.json()["detail"][0]["field"]) == (
        422,
        "aggregate_id",
    )
    never = httpx.get(f"{base}/aggregates/{uuid4()}?as_of=1", headers=headers)
    assert never.status_code == 404
    assert "no aggregate" in never.json()["detail"]


def test_the_cli_shows_an_aggregate_and_the_organisation_as_of_then(settings: Settings) -> None:
    with served(settings) as env:
        add_officer(env)  # officer@enclave.edu, in team Audit, logged in
        me = json.loads(ok("user", "me", "--json", env=env))
        now = datetime.now(UTC).isoformat()

        shown = json.loads(ok("audit", "state-as-of", me["id"], "--at", now, "--json", env=env))
        assert (shown["type"], shown["state"]["email"]) == ("User", "officer@enclave.edu")
        assert "audit" in shown["state"]["granted"]
        text = ok("audit", "state-as-of", me["id"], "--at", str(shown["as_of_position"]), env=env)
        assert "officer@enclave.edu" in text
        assert f"position {shown['as_of_position']}" in text

        table = ok("audit", "org-as-of", "--at", now, env=env)
        assert "officer@enclave.edu" in table and "root@enclave.edu" in table
        # The Audit team's row names its member by email.
        assert any(
            line.startswith("Audit\t") and "officer@enclave.edu" in line
            for line in table.splitlines()
        )
        org = json.loads(ok("audit", "org-as-of", "--at", "1", "--json", env=env))
        assert org["people"] == [] and org["as_of_position"] == 1

        # Unusable input: one line and exit 2 before anything is sent; the server's
        # own refusal (beyond the end of the log) one line and exit 1.
        bad = strongroom("audit", "org-as-of", "--at", "yesterday", env=env)
        assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
        assert "--at" in bad.stderr
        naive = strongroom("audit", "state-as-of", me["id"], "--at", "2026-03-01T09:00", env=env)
        assert naive.returncode == 2 and "UTC offset" in naive.stderr
        beyond = strongroom("audit", "org-as-of", "--at", "999999999", env=env)
        assert beyond.returncode == 1
        assert "422: as_of: position 999999999 is beyond the end of the log" in beyond.stderr
