"""Compliance officers read the directory to follow up alerts, and every read is recorded."""

from __future__ import annotations

from api.world import World
from domain.application import Strongroom
from domain.identity import Identity


def reads(app: Strongroom) -> list[tuple[str, str | None, str]]:
    events = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]
    return [
        (e.what, e.target, e.actor_id)
        for e in events
        if type(e).__qualname__ == "DirectoryRead.Recorded"
    ]


def test_an_officer_reads_people_and_teams_and_each_read_is_recorded(app: Strongroom) -> None:
    world = World(app)
    world.person("officer", teams=("A",), audit=True)
    world.person("mallory", teams=("B",))
    officer = str(world.ids["officer"])
    with world.acting("officer"):
        mallory = Identity(app).view_user(world.ids["mallory"])  # not in any of their teams
        team = Identity(app).view_team(world.team("B"))
    assert mallory.email == world.email("mallory")
    assert team.id == world.team("B")
    assert reads(app) == [
        ("user", str(world.ids["mallory"]), officer),
        ("team", str(world.team("B")), officer),
    ]


def test_ordinary_reads_are_not_recorded_as_officer_reads(app: Strongroom) -> None:
    world = World(app)
    world.person("ada", teams=("A",))
    with world.acting("ada"):
        Identity(app).view_user(world.ids["ada"])
    assert reads(app) == []
