"""Text that could deceive a reader is refused before it becomes permanent."""

from __future__ import annotations

import pytest

from api.world import World, visitor
from client.keys import UserKeys
from domain.application import Strongroom
from domain.envelope import acting_as
from domain.errors import InvalidInput
from domain.identity import Identity, Registration
from domain.text import checked

HOSTILE = {
    "NUL": "Eve\x00Admin",
    "right-to-left override": "Eve\u202egpj.exe",
    "ANSI escape": "Eve\x1b[2J\x1b[31mADMIN",
    "bell": "Eve\x07",
    "C1 control": "Eve\x9b31m",
    "isolate": "Eve\u2066x\u2069",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked("name", value, max_length=200)
    assert refused.value.field == "name"
    assert "U+" in refused.value.reason


def test_lengths_are_bounded_and_ordinary_text_passes() -> None:
    with pytest.raises(InvalidInput, match="at most 5"):
        checked("name", "abcdef", max_length=5)
    assert checked("name", "  Zoë Ødegård 李伟 ", max_length=200) == "Zoë Ødegård 李伟"
    assert checked("note", "line one\nline two", max_length=50, multiline=True)


@pytest.mark.parametrize(
    ("field", "email", "name"),
    [
        ("name", "eve@example.edu", "Eve\u202eNIMDA"),
        ("email", "eve\x1b[31m@example.edu", "Eve"),
        ("email", "e\x00ve@example.edu", "Eve"),
    ],
)
def test_registration_refuses_hostile_names_and_emails(
    app: Strongroom, field: str, email: str, name: str
) -> None:
    keys = UserKeys.generate()
    before = app.recorder.max_notification_id()
    with acting_as(visitor()), pytest.raises(InvalidInput) as refused:
        Identity(app).register_user(Registration(**keys.registration(email, name)))
    assert refused.value.field == field
    assert app.recorder.max_notification_id() == before  # nothing recorded


def test_team_names_are_checked_too(app: Strongroom) -> None:
    world = World(app)
    with world.acting("root"), pytest.raises(InvalidInput) as refused:
        Identity(app).create_team("Ops\x1b]0;pwned\x07")
    assert refused.value.field == "name"
