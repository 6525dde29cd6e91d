"""The verifier treats the store as hostile: whatever a ledger column holds, it gives a verdict.

The story: a small organisation is recorded once for each store (root, two
people, a team; a snapshot every 2 versions, a checkpoint every 5 events).
Then, for every tampering, someone with write access to the database spoils a
fresh copy of that store: one column of one row of one ledger table becomes
another storage type, NULL, a shorter or a longer value, another number; on
Postgres, where a column has one type, the column's type itself is altered.

Each time `audit verify` must answer `FAILED at position N: <kind>` for the
row that was spoiled, and the critical Hash alert must then be recorded as the
CLI records it: an attacker must not be able to pick a tampering that silences
the check.  A representative few also go through the real `strongroom` command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError

from adapters.bootstrap import open_system
from adapters.clock import ManualClock
from adapters.ledger.schema import (
    AGGREGATE_ID,
    BYTES,
    CHAIN,
    CHECKPOINTS,
    EVENTS,
    INTEGER,
    SNAPSHOT_SIGNATURES,
    SNAPSHOTS,
    TEXT,
    Column,
    PostgresDialect,
    Table,
)
from adapters.settings import PostgresStore, Settings
from api.world import World
from audit_queries.verify import (
    ALTERED,
    BAD_SIGNATURE,
    FORGED_SNAPSHOT,
    INSERTED,
    MISSING,
    Problem,
    verify_store,
)
from domain.access import Role
from domain.alerts import Alert, Alerts
from domain.application import Strongroom
from domain.envelope import AuditContext, acting_as
from tests.api.cli_runner import env_for, strongroom
from tests.conftest import needs_postgres
from tests.notes import Note
from tests.stores import store_settings
from tests.tamper import POSTGRES_RETYPES, Tamperer, store_copy

CLOCK = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Facts:
    """Where things are in the recorded store, read back once."""

    ada: UUID  # an admin, with snapshots at versions 2 and 4
    snapshot_version: int  # ada's newest snapshot
    target: int  # the position of the event at that version: mid-log
    end: int  # the last position
    checkpoint_starts: dict[int, int]  # seq -> first position of its range
    newest_seq: int


@dataclass(frozen=True)
class Recorded:
    settings: Settings
    facts: Facts


def record_organisation(settings: Settings) -> Facts:
    app = open_system(settings, clock=ManualClock(CLOCK)).app
    try:
        world = World(app)
        ada = world.person("ada", Role.ADMIN, teams=("A",))
        world.person("bob", teams=("A",))
    finally:
        app.close()
    attacker = Tamperer(settings)
    try:
        ((version,),) = attacker.run(
            f"SELECT MAX(originator_version) FROM {attacker.snapshots} WHERE originator_id = ?",
            attacker.stored_id(ada),
        )
        ((target,),) = attacker.run(
            f"SELECT $pos FROM {attacker.events} WHERE originator_id = ? "
            "AND originator_version = ?",
            attacker.stored_id(ada),
            version,
        )
        ((end,),) = attacker.run(f"SELECT MAX($pos) FROM {attacker.events}")
        positions = [p for (p,) in attacker.run(f"SELECT position FROM {attacker.checkpoints}")]
    finally:
        attacker.close()
    starts = {seq: previous + 1 for seq, previous in enumerate([0, *positions[:-1]], start=1)}
    return Facts(ada, version, target, end, starts, len(positions))


@pytest.fixture(scope="module")
def recorded_stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], Recorded]]:
    """Each store kind recorded once for the whole module, on first use."""
    with ExitStack() as stack:
        made: dict[str, Recorded] = {}

        def recorded(kind: str) -> Recorded:
            if kind not in made:
                settings = stack.enter_context(
                    store_settings(
                        kind,
                        tmp_path_factory.mktemp(kind),
                        checkpoint_every=5,
                        STRONGROOM_SNAPSHOT_INTERVAL="2",
                    )
                )
                if isinstance(settings.store, PostgresStore):
                    skip_waiting_for_disk(settings.store)
                made[kind] = Recorded(settings, record_organisation(settings))
            return made[kind]

        yield recorded


def skip_waiting_for_disk(store: PostgresStore) -> None:
    # Hundreds of small schema copies and commits follow; none needs to survive a crash.
    with psycopg.connect(**store.conninfo(), autocommit=True) as db:  # type: ignore[arg-type]
        db.execute(f'ALTER DATABASE "{store.dbname}" SET synchronous_commit TO off')


# -- the tamperings ----------------------------------------------------------------------

# Each target is one row of one table: the role of the table, the row, and how a
# value of each of its columns is spoiled.  Expected verdicts follow from the row.


@dataclass(frozen=True)
class Tampering:
    table: str  # events, chain, chain head, checkpoint, newest checkpoint, snapshot, signature
    column: str
    how: str  # a spoiler name, or "as <type>" for a Postgres retype

    @property
    def id(self) -> str:
        return f"{self.table}.{self.column}:{self.how}".replace(" ", "-")


# Every column of every ledger table, as the ledger defines them: a column added
# there is spoiled here too.
TARGETS: dict[str, Table] = {
    "events": EVENTS,
    "chain": CHAIN,
    "chain head": CHAIN,
    "checkpoint": CHECKPOINTS,
    "newest checkpoint": CHECKPOINTS,
    "snapshot": SNAPSHOTS,
    "signature": SNAPSHOT_SIGNATURES,
}
SQLITE_SPOILERS = ("NULL", "integer", "negative", "real", "text", "blob", "shorter", "longer")
POSTGRES_TYPES = PostgresDialect("public").types


def sqlite_spoilers(column: Column) -> list[str]:
    if column.kind == INTEGER:
        return [s for s in SQLITE_SPOILERS if s not in ("shorter", "longer")]
    # The library finds an aggregate's events by the id as stored: respelt, it hides them.
    return [*SQLITE_SPOILERS, "upper case"] if column.kind == AGGREGATE_ID else [*SQLITE_SPOILERS]


def postgres_spoilers(column: Column) -> list[str]:
    same_type = {
        INTEGER: ["integer", "negative"],
        BYTES: ["shorter", "longer"],
        TEXT: ["shorter", "longer"],
        AGGREGATE_ID: ["another id"],
    }[column.kind]
    retypes = [f"as {t}" for t in POSTGRES_RETYPES if t != POSTGRES_TYPES[column.kind]]
    return ["NULL", *same_type, *retypes]


# A second row of the tables whose newest row the writer reads back (its head).
SECOND_ROWS = ("chain head", "newest checkpoint")


def tamperings(kind: str) -> list[Tampering]:
    spoilers = sqlite_spoilers if kind == "sqlite" else postgres_spoilers
    cases = [
        Tampering(target, column.name, how)
        for target, table in TARGETS.items()
        for column in table.columns
        for how in spoilers(column)
        # A retype is of a whole column: once per table is enough.
        if not (how.startswith("as ") and target in SECOND_ROWS)
    ]
    # The position of an event: SQLite's rowid only ever holds an integer.
    position = "rowid" if kind == "sqlite" else "notification_id"
    how = ["integer", "negative"] if kind == "sqlite" else ["NULL", "integer", "negative"]
    return [*cases, *(Tampering("events", position, h) for h in how)]


def spoiled(value: Any, how: str) -> Any:
    """What the attacker writes in place of `value`."""
    if how == "NULL":
        return None
    if how == "integer":
        return value + 1_000_000 if isinstance(value, int) else 1_000_000
    if how == "negative":
        return -7
    if how == "real":
        return value + 0.5 if isinstance(value, int) else 2.5
    if how == "text":
        return "tampered"
    if how == "blob":
        return b"tampered"
    if how == "shorter":
        return value[:-1]
    if how == "longer":
        return value + (b"!" if isinstance(value, bytes) else "!")
    if how == "upper case":
        return value.upper()
    if how == "another id":
        return uuid4()
    raise ValueError(how)


def locate(attacker: Tamperer, facts: Facts, table: str) -> tuple[str, str, tuple[Any, ...]]:
    """The table's name and the WHERE clause (with its parameters) naming the target row."""
    ada_version = ("originator_id = ? AND originator_version = ?", attacker.stored_id(facts.ada))
    return {
        "events": (attacker.events, "$pos = ?", (facts.target,)),
        "chain": (attacker.chain, "position = ?", (facts.target,)),
        "chain head": (attacker.chain, "position = ?", (facts.end,)),
        "checkpoint": (attacker.checkpoints, "seq = ?", (2,)),
        "newest checkpoint": (attacker.checkpoints, "seq = ?", (facts.newest_seq,)),
        "snapshot": (
            attacker.snapshots,
            ada_version[0],
            (ada_version[1], facts.snapshot_version),
        ),
        "signature": (
            attacker.signatures,
            ada_version[0],
            (ada_version[1], facts.snapshot_version),
        ),
    }[table]


def tamper(settings: Settings, facts: Facts, case: Tampering) -> None:
    attacker = Tamperer(settings)
    try:
        table, where, params = locate(attacker, facts, case.table)
        if case.how.startswith("as "):
            attacker.retype(table, case.column, case.how.removeprefix("as "))
            return
        if case.how == "NULL" or (attacker.is_sqlite and table != attacker.events):
            # Constraints would refuse some values; an attacker rebuilds the table without.
            attacker.loosen(table)
        column = case.column.replace("rowid", "$pos")
        ((value,),) = attacker.run(f"SELECT {column} FROM {table} WHERE {where}", *params)
        attacker.set_value(table, column, spoiled(value, case.how), where, *params)
    finally:
        attacker.close()


def expected(case: Tampering, facts: Facts, kind: str) -> tuple[set[int], set[str]]:
    """The positions and kinds of verdict that correctly name this tampering."""
    if case.how.startswith("as "):
        return {1}, {ALTERED}  # the table itself was altered: nothing in it is trusted
    table, column, how = case.table, case.column, case.how
    if table == "events":
        if column in ("rowid", "notification_id"):
            return ({-7}, {INSERTED}) if how == "negative" else ({facts.target}, {MISSING})
        return {facts.target}, {ALTERED}
    if table in ("chain", "chain head"):
        link = facts.target if table == "chain" else facts.end
        return ({link}, {INSERTED}) if column == "position" else ({link}, {ALTERED})
    if table in ("checkpoint", "newest checkpoint"):
        seq = 2 if table == "checkpoint" else facts.newest_seq
        start = facts.checkpoint_starts[seq]
        if column != "seq":
            return {start}, {BAD_SIGNATURE}
        # A changed number moves the row in the sequence: ahead of checkpoint 1
        # when negative (and NULL, which SQLite sorts first), otherwise a gap at its place.
        if how == "negative" or (how == "NULL" and kind == "sqlite"):
            return {1}, {MISSING, BAD_SIGNATURE}
        return {start}, {MISSING, BAD_SIGNATURE}
    if table == "snapshot" and column != "originator_id" and column != "originator_version":
        return {facts.target}, {FORGED_SNAPSHOT}
    if table == "snapshot":
        # A snapshot now of a version (or an aggregate) the log does not hold.
        return {facts.end + 1}, {FORGED_SNAPSHOT}
    return {facts.target}, {FORGED_SNAPSHOT}  # the snapshot's signature was spoiled or moved


def params_for(kind: str) -> list[Any]:
    marks = [needs_postgres] if kind == "postgres" else []
    return [
        pytest.param(kind, case, marks=marks, id=f"{kind}-{case.id}") for case in tamperings(kind)
    ]


def assert_names_the_tampering(
    problem: Problem | None, case: Tampering, facts: Facts, kind: str
) -> None:
    assert problem is not None, f"{case.id} went unnoticed"
    positions, kinds = expected(case, facts, kind)
    assert problem.position in positions and problem.kind in kinds, problem


def assert_hash_alert_recorded(settings: Settings, problem: Problem) -> None:
    """As `strongroom audit verify` does on failure, through the spoiled store itself."""
    app = open_system(settings, clock=ManualClock(CLOCK)).app
    try:
        alert_id = Alerts(app).raise_integrity_alert(problem.position, problem.kind, problem.detail)
        alert: Alert = app.repository.get(alert_id)
        assert isinstance(alert, Alert)
        assert (alert.type, alert.severity) == ("Hash alert", "critical")
        assert alert.source_position == problem.position
    finally:
        app.close()


def assert_hash_alert_recorded_or_store_down(settings: Settings, problem: Problem) -> None:
    """A column retyped on Postgres may leave the library unable to use the store at all.

    Then nothing can be recorded, the Hash alert included (the command says so),
    but neither can anything else: the tampering stops the whole system, loudly,
    rather than silencing the check while the system carries on.
    """
    app = open_system(settings, clock=ManualClock(CLOCK)).app
    try:
        try:
            Alerts(app).raise_integrity_alert(problem.position, problem.kind, problem.detail)
        except PersistenceError:
            assert not serves_the_application(app)
    finally:
        app.close()


def serves_the_application(app: Strongroom) -> bool:
    """Whether the store can still save an aggregate and load it back."""
    try:
        with acting_as(AuditContext.system("tamper-test")):
            note = Note("still working?")
            app.save(note)
        # A version given: read from the store, not from the aggregate cache.
        return app.repository.get(note.id, version=note.version).title == note.title
    except (PersistenceError, TypeError):
        return False


@pytest.mark.parametrize(("kind", "case"), params_for("sqlite") + params_for("postgres"))
def test_every_spoiled_column_is_a_verdict_and_an_alert(
    recorded_stores: Callable[[str], Recorded], tmp_path: Path, kind: str, case: Tampering
) -> None:
    recorded = recorded_stores(kind)
    with store_copy(
        recorded.settings, tmp_path / "copy", name=f"spoiled_{uuid4().hex[:8]}"
    ) as copy:
        tamper(copy, recorded.facts, case)
        problem = verify_store(copy).problem
        assert_names_the_tampering(problem, case, recorded.facts, kind)
        assert problem is not None
        if case.how.startswith("as "):
            assert_hash_alert_recorded_or_store_down(copy, problem)
        else:
            assert_hash_alert_recorded(copy, problem)


# -- through the real command ------------------------------------------------------------

CLI_CASES = {
    "sqlite": [
        Tampering("events", "state", "text"),
        Tampering("events", "topic", "blob"),
        Tampering("events", "originator_id", "text"),
        Tampering("events", "originator_version", "text"),
        Tampering("chain head", "hash", "NULL"),
        Tampering("snapshot", "state", "shorter"),
    ],
    "postgres": [
        Tampering("events", "state", "NULL"),
        Tampering("events", "notification_id", "NULL"),
        Tampering("events", "topic", "as bytea"),
        Tampering("newest checkpoint", "chain_hash", "shorter"),
        Tampering("snapshot", "state", "shorter"),
    ],
}


def cli_params() -> list[Any]:
    return [
        pytest.param(
            kind, case, marks=[needs_postgres] if kind == "postgres" else [], id=f"{kind}-{case.id}"
        )
        for kind, cases in CLI_CASES.items()
        for case in cases
    ]


@pytest.mark.parametrize(("kind", "case"), cli_params())
def test_the_command_says_failed_and_raises_the_hash_alert(
    recorded_stores: Callable[[str], Recorded], tmp_path: Path, kind: str, case: Tampering
) -> None:
    recorded = recorded_stores(kind)
    # The command finds its store from the environment: on Postgres, a whole database.
    with store_copy(recorded.settings, tmp_path / "copy", name="", database=True) as copy:
        tamper(copy, recorded.facts, case)
        env = env_for(copy)
        verify = strongroom("audit", "verify", env=env)
        assert "Traceback" not in verify.stderr, verify.stderr
        assert verify.returncode == 1, verify.stdout + verify.stderr
        positions, kinds = expected(case, recorded.facts, kind)
        assert any(
            verify.stdout.startswith(f"FAILED at position {p}: {k}: ")
            for p in positions
            for k in kinds
        ), verify.stdout
        if not case.how.startswith("as "):
            assert "A critical Hash alert was raised" in verify.stderr, verify.stderr
