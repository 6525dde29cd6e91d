"""Two writers racing on one aggregate: one wins, one gets a conflict, nothing is lost."""

from __future__ import annotations

import threading

from eventsourcing.persistence import IntegrityError

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.settings import Settings
from audit_queries.verify import verify_store
from domain.envelope import AuditContext, acting_as
from tests.notes import Note


def test_exactly_one_of_two_racing_writers_wins(
    settings: Settings, clock: ManualClock, officer: AuditContext
) -> None:
    # Two independent application instances (two connections) share one store.
    first, second = open_system(settings, clock=clock).app, open_system(settings, clock=clock).app
    note = Note("contested")
    first.save(note)

    both_loaded = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def write(name: str, app: object) -> None:
        with acting_as(officer):
            mine = app.repository.get(note.id)  # type: ignore[attr-defined]
            mine.write(f"written by {name}")
            both_loaded.wait()
            try:
                app.save(mine)  # type: ignore[attr-defined]
            except IntegrityError:
                outcomes[name] = "conflict"
            else:
                outcomes[name] = "saved"

    threads = [
        threading.Thread(target=write, args=("first", first)),
        threading.Thread(target=write, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")

    # The store holds the creation and the winner's line, nothing else, in order.
    events = list(first.events.get(note.id))
    assert [e.originator_version for e in events] == [1, 2]
    assert events[1].line == f"written by {winner}"  # type: ignore[attr-defined]

    # The loser can retry on the new version, and the chain still verifies.
    with acting_as(officer):
        retried: Note = second.repository.get(note.id)
        retried.write("retried")
        second.save(retried)
    first.close()
    second.close()
    report = verify_store(settings)
    assert report.problem is None
    assert report.events == 3
