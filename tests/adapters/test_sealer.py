"""The periodic sealer signs a quiet store's head, and once more when it stops."""

from __future__ import annotations

import time

from adapters.ledger.sealer import PeriodicSealer
from domain.application import Strongroom
from domain.envelope import AuditContext
from tests.notes import Note


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_quiet_store_gets_sealed(app: Strongroom, officer: AuditContext) -> None:
    # Three events: far fewer than the checkpoint interval of 10.
    note = Note("quiet")
    note.write("one")
    note.write("two")
    app.save(note)
    recorder = app.recorder
    sealed: list[object] = []
    original = recorder.seal  # type: ignore[attr-defined]

    def seal_and_note() -> object:
        checkpoint = original()
        if checkpoint is not None:
            sealed.append(checkpoint)
        return checkpoint

    sealer = PeriodicSealer(seal_and_note, every_seconds=0.05)
    sealer.start()
    try:
        wait_for(lambda: sealed)
    finally:
        sealer.stop()
    assert sealed[0].position == 3  # type: ignore[attr-defined]

    # An event recorded just before shutdown is sealed by the final round.
    note.write("last words")
    app.save(note)
    quiet = PeriodicSealer(seal_and_note, every_seconds=3600)
    quiet.start()
    quiet.stop()
    assert sealed[-1].position == 4  # type: ignore[attr-defined]
