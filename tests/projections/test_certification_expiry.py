"""The expiry process records each certification's expiry once, on the injected clock.

Nothing before the moment, exactly one `Certification.Expired` (and the lapse it
causes) after it, as `system:certification-expiry`; however many processes run,
however often they restart around the moment, and never for a certification
re-certified or revoked before a round reached it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import System, open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from api.world import World
from domain.access import Role
from domain.application import Strongroom
from domain.compliance import Compliance


def recorded(app: Strongroom, kind: str) -> list[Any]:
    return [
        event
        for event in (
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=1_000_000)
        )
        if type(event).__qualname__ == kind
    ]


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for something a background thread does (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Rounds every 50 ms, so the background tests are short."""
    return replace(settings, expiry_seconds=0.05)


@pytest.fixture
def systems(quick: Settings, clock: ManualClock) -> Iterator[Callable[[], System]]:
    """Open systems over the one store, as restarted or parallel servers do; all closed after."""
    opened: list[System] = []

    def open_one() -> System:
        system = open_system(quick, clock=clock)
        opened.append(system)
        return system

    yield open_one
    for system in opened:
        system.close()


@pytest.fixture
def story(systems: Callable[[], System], clock: ManualClock) -> dict[str, Any]:
    """Rita, a member of DAC, holds "DAC Compliance" for ten more days."""
    system = systems()
    world = World(system.app)
    world.person("admin", Role.ADMIN)
    world.person("rita", name="Rita Levi")
    c = Compliance(system.app)
    expires = clock.now() + timedelta(days=10)
    with world.acting("admin"):
        training = c.create_requirement("DAC Compliance", "", 365)
        hipaa = c.create_level("HIPAA", "", [training])
        dac = c.create_project("DAC", hipaa)
        c.certify(world.ids["rita"], training, expires)
        c.add_member(dac, world.ids["rita"])
    held = c.certification(world.ids["rita"], training)
    assert held is not None
    return {
        "system": system,
        "world": world,
        "training": training,
        "dac": dac,
        "expires": expires,
        "certification": held.id,
    }


def round_on(system: System) -> int:
    """One round of `system`'s expiry process, over its caught-up read model."""
    system.projections.catch_up_all()
    return system.expiry.run_once()


def until(clock: ManualClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


def test_the_second_before_nothing_the_second_after_exactly_once(
    story: dict[str, Any], clock: ManualClock
) -> None:
    system, app = story["system"], story["system"].app
    until(clock, story["expires"] - timedelta(seconds=1))
    assert round_on(system) == 0
    assert recorded(app, "Certification.Expired") == []
    assert recorded(app, "Project.MemberLapsed") == []

    until(clock, story["expires"])
    assert round_on(system) == 1
    [expired] = recorded(app, "Certification.Expired")
    assert expired.originator_id == story["certification"]
    assert expired.actor_id == "system:certification-expiry"
    assert expired.expired_at == story["expires"]
    [lapsed] = recorded(app, "Project.MemberLapsed")
    assert lapsed.actor_id == "system:certification-expiry"
    assert lapsed.originator_id == story["dac"]
    assert lapsed.user_id == story["world"].ids["rita"]
    assert any("DAC Compliance" in reason for reason in lapsed.reasons)

    # Later rounds find nothing due: the read model has it recorded.
    clock.advance(timedelta(days=1))
    assert round_on(system) == 0
    assert len(recorded(app, "Certification.Expired")) == 1
    assert len(recorded(app, "Project.MemberLapsed")) == 1


def test_a_process_restarted_around_the_moment_records_it_once(
    story: dict[str, Any], systems: Callable[[], System], clock: ManualClock
) -> None:
    first = story["system"]
    until(clock, story["expires"] - timedelta(seconds=1))
    first.start()
    rounds = first.expiry.rounds
    eventually(lambda: first.expiry.rounds > rounds + 1, "the first process's rounds")
    assert recorded(first.app, "Certification.Expired") == []
    first.close()  # stopped the second before

    # Restarted after the moment: the new process records what fell due meanwhile, at once.
    until(clock, story["expires"] + timedelta(seconds=1))
    second = systems()
    second.start()
    eventually(lambda: recorded(second.app, "Certification.Expired") != [], "the expiry")
    rounds = second.expiry.rounds
    eventually(lambda: second.expiry.rounds > rounds + 2, "more rounds of the second process")
    second.close()

    # And once more, restarted again later: still exactly once.
    clock.advance(timedelta(minutes=1))
    third = systems()
    assert round_on(third) == 0
    assert len(recorded(third.app, "Certification.Expired")) == 1
    assert len(recorded(third.app, "Project.MemberLapsed")) == 1


def test_processes_running_together_record_it_once(
    story: dict[str, Any], systems: Callable[[], System], clock: ManualClock
) -> None:
    many = [story["system"], systems(), systems()]
    for system in many:
        system.projections.catch_up_all()
    until(clock, story["expires"])
    # Every process sees it due in its read model; they all act at once.
    start = threading.Barrier(len(many))
    counts: list[int] = []

    def act(system: System) -> None:
        start.wait()
        counts.append(system.expiry.run_once())

    threads = [threading.Thread(target=act, args=(s,)) for s in many]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0] * (len(many) - 1) + [1]
    app = story["system"].app
    assert len(recorded(app, "Certification.Expired")) == 1
    assert len(recorded(app, "Project.MemberLapsed")) == 1

    # Their background threads running side by side after the moment add nothing.
    for system in many:
        system.start()
    rounds = [s.expiry.rounds for s in many]
    eventually(
        lambda: all(s.expiry.rounds > r + 2 for s, r in zip(many, rounds, strict=True)),
        "rounds of every process",
    )
    assert len(recorded(app, "Certification.Expired")) == 1


def test_recertified_before_a_round_reached_it_is_not_expired(
    story: dict[str, Any], clock: ManualClock
) -> None:
    system, world = story["system"], story["world"]
    c = Compliance(system.app)
    system.projections.catch_up_all()  # the read model has it live, expiring at the moment
    until(clock, story["expires"] + timedelta(seconds=5))
    with world.acting("admin"):
        c.certify(world.ids["rita"], story["training"], clock.now() + timedelta(days=30))
    # The round reads the read model as it was (the runner is not following): it
    # has the certification due, and the aggregate says otherwise.
    assert system.expiry.run_once() == 0
    assert recorded(system.app, "Certification.Expired") == []
    assert recorded(system.app, "Project.MemberLapsed") == []
    held = c.certification(world.ids["rita"], story["training"])
    assert held is not None and held.valid_at(clock.now())
    # Caught up, nothing is due any more.
    assert round_on(system) == 0


def test_revoked_is_not_expired_and_no_expiry_never_is(
    story: dict[str, Any], clock: ManualClock
) -> None:
    system, world = story["system"], story["world"]
    c = Compliance(system.app)
    with world.acting("admin"):
        citizenship = c.create_requirement("Citizenship", "", None)
        c.certify(world.ids["rita"], citizenship, None)
        c.decertify(world.ids["rita"], story["training"], "left the study")
    lapses = len(recorded(system.app, "Project.MemberLapsed"))
    clock.advance(timedelta(days=3650))
    assert round_on(system) == 0
    assert recorded(system.app, "Certification.Expired") == []
    assert len(recorded(system.app, "Project.MemberLapsed")) == lapses


def test_each_of_several_due_is_recorded_in_one_round(
    story: dict[str, Any], clock: ManualClock
) -> None:
    system, world = story["system"], story["world"]
    c = Compliance(system.app)
    people = [world.person(f"p{i}") for i in range(3)]
    with world.acting("admin"):
        for i, person in enumerate(people):
            c.certify(person, story["training"], clock.now() + timedelta(days=1, hours=i))
    until(clock, story["expires"])
    assert round_on(system) == 4
    expired = {e.originator_id for e in recorded(system.app, "Certification.Expired")}
    held = [c.certification(p, story["training"]) for p in people]
    assert expired == {story["certification"], *(h.id for h in held if h is not None)}
    assert all(isinstance(e, UUID) for e in expired)
