"""Processes act exactly once and record what came of it, whatever crashes and replays.

A process reads a request from the log, checks the real state of its target
(the idempotency key), acts, and records the outcome together with its tracking
position in the event store. Killed between the side effect and the outcome, or
between the outcome and its memory, it neither acts twice nor records twice.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.ledger.port import Ledger
from adapters.settings import Settings
from audit_queries.verify import verify_store
from domain.envelope import AuditContext
from projections.catalogue import projections_engine
from projections.runner import ProjectionRunner
from tests.notes import Note
from tests.publishing import CRASH_AFTER_SIDE_EFFECT, Outbox, Publication, Publisher

RUN_PUBLISHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from adapters.bootstrap import open_system
    from adapters.settings import Settings
    from projections.catalogue import projections_engine
    from projections.runner import Hooks, ProjectionRunner
    from tests.publishing import Outbox, Publisher

    def crash_after_outcome(name, position):
        if os.environ.get("CRASH_AFTER_OUTCOME"):
            os._exit(18)  # the outcome is recorded; the memory's commit never happens

    settings = Settings.from_env()
    system = open_system(settings)
    runner = ProjectionRunner(
        engine=projections_engine(settings.projections_url),
        app=system.app,
        ledger=system.ledger,
        projections=[Publisher(Outbox(Path(sys.argv[1])))],
        hooks=Hooks(after_outcomes_recorded=crash_after_outcome),
        page=int(sys.argv[2]),
    )
    runner.catch_up_all()
    system.close()
    """
)


def requests(settings: Settings, clock: ManualClock, count: int) -> None:
    app = open_system(settings, clock=clock).app
    from domain.envelope import acting_as

    with acting_as(AuditContext("u-ada", "user", "s", "r", "10.0.0.1")):
        note = Note("to publish")
        for i in range(count):
            note.write(f"publish:item {i}")
            note.write("just a line")
        app.save(note)
    app.close()


def run(settings: Settings, outbox: Path, tmp_path: Path, page: int, **crash: str) -> int:
    script = tmp_path / "run_publisher.py"
    script.write_text(RUN_PUBLISHER)
    env = {
        "STRONGROOM_HOME": str(settings.home),
        "STRONGROOM_CHECKPOINT_EVERY": str(settings.checkpoint_every),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        **crash,
    }
    if settings.store.kind == "postgres":
        s = settings.store
        env["STRONGROOM_DATABASE_URL"] = f"postgresql://{s.user}@{s.host}:{s.port}/{s.dbname}"  # type: ignore[union-attr]
    return subprocess.run(
        [sys.executable, str(script), str(outbox), str(page)], env=env, check=False
    ).returncode


def publications(settings: Settings, clock: ManualClock) -> list[str]:
    app = open_system(settings, clock=clock).app
    try:
        found = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=1, limit=10_000)
        ]
        return sorted(e.key for e in found if isinstance(e, Publication.Done))
    finally:
        app.close()


def test_killed_between_the_side_effect_and_the_outcome(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    requests(settings, clock, 3)
    outbox = Outbox(tmp_path / "outbox")

    # Killed right after its first side effect, before anything is recorded.
    assert run(settings, outbox.directory, tmp_path, 100, **{CRASH_AFTER_SIDE_EFFECT: "y"}) == 17
    assert len(outbox.writes()) == 1
    assert publications(settings, clock) == []

    # Restarted: the first item is found already published and not published again;
    # every outcome is recorded once.
    assert run(settings, outbox.directory, tmp_path, 100) == 0
    assert len(outbox.writes()) == 3
    assert len(set(outbox.writes())) == 3
    assert publications(settings, clock) == sorted(outbox.writes())
    assert verify_store(settings).ok


def test_killed_between_the_outcome_and_its_memory(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    requests(settings, clock, 4)
    outbox = Outbox(tmp_path / "outbox")

    # Pages of 3 events: the first page's outcome is recorded, then the process dies
    # before its own position moves.
    assert run(settings, outbox.directory, tmp_path, 3, CRASH_AFTER_OUTCOME="y") == 18
    first = publications(settings, clock)
    assert first and len(outbox.writes()) == len(first)

    # Restarted: it replays what it had recorded without acting or recording again.
    assert run(settings, outbox.directory, tmp_path, 3) == 0
    assert len(outbox.writes()) == 4 == len(set(outbox.writes()))
    assert publications(settings, clock) == sorted(outbox.writes())

    # And a rebuild of its memory from zero acts on nothing and records nothing.
    system = open_system(settings, clock=clock)
    runner = ProjectionRunner(
        engine=projections_engine(settings.projections_url),
        app=system.app,
        ledger=Ledger(system.app.recorder),
        projections=[Publisher(outbox)],
    )
    runner.rebuild("publisher")
    system.close()
    assert len(outbox.writes()) == 4
    assert publications(settings, clock) == sorted(outbox.writes())
