"""Every event carries the audit envelope and the injected time; none is recorded without them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.clock import ManualClock
from domain.application import Strongroom
from domain.envelope import AuditContext, MissingAuditContext, acting_as
from tests.notes import Note


def test_events_carry_the_envelope_and_the_clock_time(
    app: Strongroom, clock: ManualClock, officer: AuditContext
) -> None:
    # Ada starts a note, and an hour later writes to it.
    note = Note("incident 7")
    app.save(note)
    clock.advance(timedelta(hours=1))
    note.write("badge reader log attached")
    app.save(note)

    # Both events, read back from the store, say who, from where and when.
    started, written = app.events.get(note.id)
    for recorded in (started, written):
        assert recorded.actor_id == "u-ada"
        assert recorded.actor_role == "admin"
        assert recorded.session_id == "s-1"
        assert recorded.request_id == "r-1"
        assert recorded.client_ip == "10.1.2.3"
    assert written.timestamp - started.timestamp == timedelta(hours=1)
    assert started.timestamp == clock.now() - timedelta(hours=1)


def test_replay_keeps_the_recorded_actor_not_the_current_one(
    app: Strongroom, officer: AuditContext
) -> None:
    note = Note("replayed")
    app.save(note)
    # Someone else reads the history later: the events still name Ada.
    with acting_as(AuditContext.system("replay-check")):
        (started,) = app.events.get(note.id)
    assert started.actor_id == "u-ada"


def test_no_event_without_an_audit_context(app: Strongroom) -> None:
    with pytest.raises(MissingAuditContext):
        Note("anonymous")
    assert app.recorder.max_notification_id() is None


def test_system_actions_name_the_rule_that_fired(app: Strongroom) -> None:
    with acting_as(AuditContext.system("certification-expiry")):
        note = Note("expired")
        app.save(note)
    (started,) = app.events.get(note.id)
    assert started.actor_id == "system:certification-expiry"
    assert started.actor_role == "system"
    assert started.session_id is None


def test_a_system_action_must_name_its_rule() -> None:
    with pytest.raises(ValueError, match="rule"):
        AuditContext.system("")
