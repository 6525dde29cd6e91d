"""Follows the one audit timeline and keeps read models and processes up to date, exactly once.

Each projection owns SQLAlchemy tables and a row in `projection_tracking`. The
runner pulls the notification log in pages (both stores; the library's own runner
needs subscriptions, which its SQLite recorder lacks), applies each page inside
one read-model transaction, and moves the tracking position to the page's last
event in that same transaction, including events the projection ignores.
A crash anywhere rolls the page back, and the next run applies it again from
the tracked position. So every event is applied exactly once.

A `Process` is a projection that also *acts*: it records outcome events into the
event store, together with its own tracking position there, in one transaction
(`Strongroom.record`). Its memory (tables like any projection's) commits after.
If a crash falls between the two, the next run sees the event store's tracking
ahead of its memory: it replays those events into memory only, and acts on
nothing it already recorded. See docs/decisions/0004-processes.md.

A projection that cannot apply an event stops alone: the runner commits what
came before the event, marks the projection *stalled* at that position with the
reason, tells `on_stall` once (an alert that does not depend on any projection),
keeps every other projection following, and retries the stalled one now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, cast

from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import Notification, ProcessRecorder, Tracking
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator

from adapters.ledger.port import Ledger
from domain.application import Strongroom

log = logging.getLogger(__name__)

metadata = MetaData()


class StoredText(TypeDecorator[str]):
    """Text as a read model keeps it: a NUL (which Postgres text cannot hold) kept as `\\x00`.

    Older records may hold one; the read model must still follow the log past them.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "\\x00") if value is not None else None


class UtcDateTime(TypeDecorator[datetime]):
    """A moment that reads back in UTC on every store (SQLite drops the offset it was given)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# The shape each projection's tables were created with: a projection whose
# tables change shape (a new column) is dropped and rebuilt from the log at start.
schemas = Table(
    "projection_schema",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
)

PAGE = 1000
RETRY_STALLED_SECONDS = 30.0
COALESCE_SECONDS = 0.005
STORE_SKIPS_SECONDS = 1.0


class Projection(ABC):
    """A read model: its tables, the event topics it reads, and how it applies one."""

    name: str
    tables: tuple[Table, ...]
    topics: frozenset[str]

    @abstractmethod
    def apply(self, conn: Connection, event: Any, position: int) -> None:
        """Apply one decoded domain event; runs inside the page's transaction."""

    def before_page(self, conn: Connection) -> None:  # noqa: B027
        """Hook run as each page's transaction starts."""
        return None

    def after_page(self, conn: Connection, last_position: int) -> None:  # noqa: B027
        """Hook for work done once per page, in its transaction."""
        return None


class Process(Projection):
    """A policy that follows the log and acts, recording what came of it.

    `handle` reads a request (or any event), updates the process's memory, and
    for an event whose outcome is not yet recorded carries the action out
    (checking the target's real state first: the idempotency key) and hands the
    aggregates with the outcome events to `outcome()`. The runner records them
    with the tracking position in one transaction of the event store.
    """

    def __init__(self) -> None:
        self._outcomes: list[Any] = []
        self._recorded_upto = 0

    @abstractmethod
    def handle(self, conn: Connection, event: Any, position: int, *, recorded: bool) -> None:
        """Handle one event. `recorded`: its outcome is in the store already
        (a replay after a crash): update memory only, act on nothing."""

    def apply(self, conn: Connection, event: Any, position: int) -> None:
        self.handle(conn, event, position, recorded=position <= self._recorded_upto)

    def outcome(self, *aggregates: Any) -> None:
        """Aggregates whose new events record what this process did."""
        self._outcomes.extend(aggregates)

    def start_page(self, recorded_upto: int) -> None:
        self._outcomes, self._recorded_upto = [], recorded_upto

    def take_outcomes(self) -> list[Any]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes


@dataclass
class Hooks:
    """Points where tests can stop the runner, as a crash would."""

    between_apply_and_commit: Callable[[int], None] | None = None
    after_commit: Callable[[str, int], None] | None = None  # (projection, position)
    after_outcomes_recorded: Callable[[str, int], None] | None = None  # (process, position)


@dataclass(frozen=True)
class Stall:
    """Why a projection stopped: the event it could not apply."""

    position: int
    reason: str
    since: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    state: str  # "following" (caught up), "lagging", or "stalled"
    stall: Stall | None


def shape_of(projection: Projection) -> str:
    """A fingerprint of the tables' columns: names, types, nullability, keys."""
    described = [
        (t.name, [(c.name, str(c.type), c.nullable, c.primary_key) for c in t.columns])
        for t in projection.tables
    ]
    return sha256(repr(described).encode()).hexdigest()[:32]


def position_of(conn: Connection, name: str) -> int:
    row = conn.execute(select(tracking.c.position).where(tracking.c.name == name)).first()
    return int(row[0]) if row else 0


class AnotherRunnerMovedOn(Exception):
    """Another runner committed this page first; ours rolls back and reads on."""


def stall_reason(error: BaseException) -> str:
    """Why a projection stopped, in one short line: the error's kind and its first line.

    The database's own message, not the statement: a driver's error quotes the SQL and
    its parameters, which may hold stored values and are not for a health page.
    """
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    first_line = first_line.split("[SQL:")[0].strip()
    return f"{type(cause).__name__}: {first_line}"[:200]


class ProjectionStalled(Exception):
    """A read model asked for is stalled: what it would serve is not the truth.

    Its message names the read model and the position, not the reason: that is
    for operators (health, metrics, the alert), not for every client.
    """

    def __init__(self, name: str, stall: Stall) -> None:
        super().__init__(
            f"the {name} read model is stalled at position {stall.position}; "
            "the compliance officers were alerted"
        )
        self.name = name
        self.stall = stall


def set_position(conn: Connection, name: str, position: int, *, was: int) -> None:
    """Move the tracking position from `was` to `position`, or fail if it moved meanwhile.

    A compare-and-set: two runners (two server processes) on the same read models
    can then never apply the same page twice. The second one's transaction rolls back.
    """
    if was == 0 and position_of(conn, name) == 0:
        exists = conn.execute(select(tracking.c.name).where(tracking.c.name == name)).first()
        if exists is None:
            conn.execute(tracking.insert().values(name=name, position=position))
            return  # a racing insert fails on the primary key instead
    updated = conn.execute(
        tracking.update()
        .where(tracking.c.name == name, tracking.c.position == was)
        .values(position=position)
    )
    if updated.rowcount != 1:
        raise AnotherRunnerMovedOn(f"{name} moved past {was} meanwhile")


class _Failed(Exception):
    def __init__(self, position: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.position = position
        self.error = error


class ProjectionRunner:
    """Catches up and follows the log for a set of projections and processes."""

    def __init__(
        self,
        *,
        engine: Engine,
        app: Strongroom,
        ledger: Ledger,
        projections: Iterable[Projection],
        hooks: Hooks | None = None,
        page: int = PAGE,
        on_stall: Callable[[str, Stall], None] | None = None,
        retry_stalled_seconds: float = RETRY_STALLED_SECONDS,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        self.engine = engine
        self.app = app
        self.ledger = ledger
        self.projections = list(projections)
        self.hooks = hooks or Hooks()
        self.page = page
        self.on_stall = on_stall
        self.retry_stalled_seconds = retry_stalled_seconds
        self.coalesce_seconds = coalesce_seconds
        self.stalled: dict[str, Stall] = {}
        self._retry_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        # Counts committed pages, so readers (the SSE stream) wait for progress
        # instead of polling the read models.
        self._progress = threading.Condition()
        self.pages_committed = 0
        # Projections keep per-page buffers: one page at a time per runner, whichever
        # thread asks (other runners are kept out by the compare-and-set).
        self._one_page_at_a_time = threading.Lock()
        self._thread: threading.Thread | None = None
        self._recorded_this_round = False
        # Projections moved past events they do not read, not stored yet: name -> (was, to).
        self._skipped: dict[str, tuple[int, int]] = {}
        self._store_skips_at = 0.0
        self.create_tables()
        ledger.on_commit(self.notify)

    def create_tables(self) -> None:
        metadata.create_all(self.engine, tables=[tracking, schemas])
        with self.engine.begin() as conn:
            for projection in self.projections:
                self._check_shape(conn, projection)
        metadata.create_all(self.engine, tables=[t for p in self.projections for t in p.tables])

    def _check_shape(self, conn: Connection, projection: Projection) -> None:
        fingerprint = shape_of(projection)
        held = conn.execute(
            select(schemas.c.fingerprint).where(schemas.c.name == projection.name)
        ).scalar_one_or_none()
        if held == fingerprint:
            return
        if held is not None or position_of(conn, projection.name):
            log.warning("the %s read model changed shape: rebuilding it", projection.name)
        self._forget(conn, projection, drop=True)
        conn.execute(schemas.delete().where(schemas.c.name == projection.name))
        conn.execute(schemas.insert().values(name=projection.name, fingerprint=fingerprint))

    def _forget(self, conn: Connection, projection: Projection, *, drop: bool = False) -> None:
        """Empty (or drop) a projection's tables and its position, to replay it from zero.

        A process first records in the event store how far it had got, so the
        replay rebuilds its memory without acting on anything again.
        """
        self._skipped.pop(projection.name, None)
        reached = position_of(conn, projection.name)
        if isinstance(projection, Process) and reached > self.app.recorded_upto(projection.name):
            store = cast(ProcessRecorder, self.app.recorder)
            store.insert_tracking(Tracking(projection.name, reached))
        for table in reversed(projection.tables):
            if drop:
                table.drop(conn, checkfirst=True)
            else:
                conn.execute(table.delete())
        conn.execute(tracking.delete().where(tracking.c.name == projection.name))

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise KeyError(f"no projection named {name!r} (known: {known})")

    # -- one projection -------------------------------------------------------------

    def position(self, name: str) -> int:
        with self.engine.connect() as conn:
            return max(position_of(conn, name), self._skipped.get(name, (0, 0))[1])

    def run_page(self, projection: Projection) -> int:
        """Apply this projection's next page; returns how many events it covered (0: caught up).

        An event the projection cannot apply raises `_Failed` after the events
        before it are committed.
        """
        with self._one_page_at_a_time:
            start = self.position(projection.name)
            page = self._read(start)
            return self._apply_guarded(projection, start, page)

    def _read(self, after: int) -> list[Notification]:
        return list(
            self.app.recorder.select_notifications(
                start=after, limit=self.page, inclusive_of_start=False
            )
        )

    def _apply_guarded(self, projection: Projection, start: int, page: list[Notification]) -> int:
        try:
            try:
                return self._apply_page(projection, start, page)
            except _Failed as failed:
                # Commit what came before the bad event, so the stall names it.
                self._apply_page(projection, start, [n for n in page if n.id < failed.position])
                raise
        except (AnotherRunnerMovedOn, IntegrityError, StoreIntegrityError):
            return 1  # someone else applied or recorded it; look again from where they left off

    def _apply_page(self, projection: Projection, start: int, page: list[Notification]) -> int:
        """Apply `page` (the events after `start`) in one transaction; their count."""
        if not page:
            return 0
        last = page[-1].id
        with self.engine.begin() as conn:
            process = projection if isinstance(projection, Process) else None
            recorded_upto = self.app.recorded_upto(projection.name) if process else 0
            if process is not None:
                process.start_page(recorded_upto)
            projection.before_page(conn)
            for notification in page:
                if notification.topic in projection.topics:
                    try:
                        event = self.app.mapper.to_domain_event(notification)
                        projection.apply(conn, event, notification.id)
                    except Exception as error:
                        raise _Failed(notification.id, error) from error
            try:
                projection.after_page(conn, last)
            except Exception as error:
                raise _Failed(last, error) from error
            if process is not None:
                outcomes = process.take_outcomes()
                if outcomes and last > recorded_upto:
                    self._record(projection.name, last, outcomes)
                    self._recorded_this_round = True
                    if self.hooks.after_outcomes_recorded is not None:
                        self.hooks.after_outcomes_recorded(projection.name, last)
            set_position(conn, projection.name, last, was=start)
            if self.hooks.between_apply_and_commit is not None:
                self.hooks.between_apply_and_commit(last)
        self._committed(projection.name, last)
        return len(page)

    def _advance(self, moves: list[tuple[str, int, int]]) -> None:
        """Move projections past events none of them reads, in one transaction.

        Each move is (name, from, to); a compare-and-set like any page's.
        """
        with self.engine.begin() as conn:
            for name, was, to in moves:
                set_position(conn, name, to, was=was)
        for name, _, to in moves:
            self._committed(name, to)

    def _committed(self, name: str, position: int) -> None:
        with self._progress:
            self.pages_committed += 1
            self._progress.notify_all()
        if self.hooks.after_commit is not None:
            self.hooks.after_commit(name, position)

    def _record(self, name: str, last: int, outcomes: list[Any]) -> None:
        try:
            self.app.record(Tracking(name, last), *outcomes)
        except StoreIntegrityError as error:
            if self.app.recorded_upto(name) >= last:
                raise  # another runner recorded this page first: roll back, read on
            raise _Failed(last, error) from error  # an outcome itself conflicts

    def wait_for_progress(self, seen: int, timeout: float) -> int:
        """Block until a page commits after `seen` (a `pages_committed` value) or timeout."""
        with self._progress:
            self._progress.wait_for(lambda: self.pages_committed > seen, timeout=timeout)
            return self.pages_committed

    def catch_up(
        self, projection: Projection, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply pages until caught up; a bad event stalls this projection and raises."""
        total = 0
        try:
            while covered := self.run_page(projection):
                total += covered
                if progress is not None:
                    progress(self.position(projection.name))
        except _Failed as failed:
            raise ProjectionStalled(projection.name, self._stall(projection, failed)) from None
        self._recovered(projection)
        return total

    def rebuild(self, name: str, progress: Callable[[int], None] | None = None) -> int:
        """Empty a projection's tables and replay the whole log into them."""
        projection = self.projection(name)
        with self.engine.begin() as conn:
            self._forget(conn, projection)
        self.stalled.pop(name, None)
        return self.catch_up(projection, progress)

    # -- stalls ---------------------------------------------------------------------

    def _stall(self, projection: Projection, failed: _Failed) -> Stall:
        name = projection.name
        reason = stall_reason(failed.error)
        self._retry_at[name] = time.monotonic() + self.retry_stalled_seconds
        known = self.stalled.get(name)
        if known is not None and known.position == failed.position:
            return known  # said already; the retry failed the same way
        stall = Stall(failed.position, reason)
        self.stalled[name] = stall
        log.error(
            "projection %s stalled at position %d: %s",
            name,
            failed.position,
            reason,
            exc_info=failed.error,
        )
        if self.on_stall is not None:
            try:
                self.on_stall(name, stall)
            except Exception:
                log.exception("could not raise the alert for the stalled projection %s", name)
        return stall

    def _recovered(self, projection: Projection) -> None:
        if self.stalled.pop(projection.name, None) is not None:
            log.warning("projection %s follows the log again", projection.name)

    # -- all of them, live ----------------------------------------------------------

    def catch_up_all(self) -> int:
        """Rounds until every projection is at the head (a process may record new events).

        A stalled projection is skipped until its retry is due; the others follow.
        """
        total = 0
        while True:
            covered, more = self._round()
            total += covered
            if not more:
                return total

    def _round(self) -> tuple[int, bool]:
        """One read of the log for every due projection; whether another round is needed.

        Each projection that reads any of the events applies its part in its own
        transaction; those that read none are moved past them together in one.
        """
        due = [p for p in self.projections if self._due(p.name)]
        if not due:
            return 0, False
        with self._one_page_at_a_time:
            self._recorded_this_round = False
            with self.engine.connect() as conn:
                rows = conn.execute(select(tracking.c.name, tracking.c.position)).all()
            positions = {name: int(position) for name, position in rows}
            starts = {p.name: positions.get(p.name, 0) for p in due}
            reached = {
                name: max(start, self._skipped.get(name, (0, 0))[1])
                for name, start in starts.items()
            }
            page = self._read(min(reached.values()))
            if not page:
                return 0, False
            covered, idle, more = 0, [], len(page) == self.page
            for projection in due:
                start = starts[projection.name]
                mine = [n for n in page if n.id > reached[projection.name]]
                if not mine:
                    continue
                if not any(n.topic in projection.topics for n in mine):
                    idle.append((projection.name, start, mine[-1].id))
                    continue
                try:
                    applied = self._apply_guarded(projection, start, mine)
                except _Failed as failed:
                    self._stall(projection, failed)
                    continue
                finally:
                    self._skipped.pop(projection.name, None)
                covered += applied
                self._recovered(projection)
            if idle:
                covered += sum(to - was for _, was, to in idle)
                more = self._skip(idle) or more
            return covered, more or self._recorded_this_round

    def _skip(self, moves: list[tuple[str, int, int]]) -> bool:
        """Move projections past events none of them reads: in memory, stored now and then.

        Storing every such move would cost a write per commit for each projection
        that has nothing to do with it; forgetting some after a crash only means
        skipping those events again. Returns whether another round should look again.
        """
        for name, was, to in moves:
            self._skipped[name] = (was, to)
        if time.monotonic() < self._store_skips_at:
            for name, _, to in moves:
                self._committed(name, to)
            return False
        return not self.store_skips()

    def store_skips(self) -> bool:
        """Store the positions moved in memory; False if another runner moved them first."""
        moves = [(name, was, to) for name, (was, to) in self._skipped.items()]
        self._skipped.clear()
        self._store_skips_at = time.monotonic() + STORE_SKIPS_SECONDS
        if not moves:
            return True
        try:
            self._advance(moves)
        except (AnotherRunnerMovedOn, IntegrityError):
            return False
        return True

    def _due(self, name: str) -> bool:
        return name not in self.stalled or time.monotonic() >= self._retry_at.get(name, 0.0)

    def notify(self, *, urgent: bool = False) -> None:
        """Something was recorded: look soon; `urgent` (a reader waits) means now."""
        if urgent:
            self._urgent.set()
        self._wake.set()

    def start(self, poll_seconds: float | None = None) -> None:
        """Follow the log in a thread: woken by new events, with polling as a safety net.

        On Postgres the ledger's LISTEN wakes it for commits by any process, so
        the poll is slow; SQLite has no such channel across processes, so it polls
        quickly (in this process, commits wake it at once either way).
        """
        listening = self.ledger.listen(self.notify, self._stop)
        if poll_seconds is None:
            poll_seconds = 2.0 if listening else 0.05

        def follow() -> None:
            while not self._stop.is_set():
                try:
                    self.catch_up_all()
                except Exception:  # the store itself failed: the next round retries
                    log.exception("projection runner failed a round")
                if self._wake.wait(poll_seconds) and not self._urgent.is_set():
                    # Let commits that come close together share one round: under
                    # load the runner then costs a round per few commands, not per one.
                    self._stop.wait(self.coalesce_seconds)
                self._wake.clear()
                self._urgent.clear()

        self._thread = threading.Thread(target=follow, name="projections", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._one_page_at_a_time:
            self.store_skips()

    def wait_until_current(self, names: list[str], timeout: float = 2.0) -> bool:
        """Wait until these read models hold everything recorded before this call.

        Queries answered from read models then see the caller's own earlier writes.
        Raises `ProjectionStalled` for a stalled one; returns False (and the caller
        serves what there is) if they lag beyond `timeout`.
        """
        head = self.ledger.head()
        deadline = time.monotonic() + timeout
        for name in names:
            while self.position(name) < head:
                if name in self.stalled:
                    raise ProjectionStalled(name, self.stalled[name])
                seen = self.pages_committed
                if self.position(name) >= head:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.notify(urgent=True)
                self.wait_for_progress(seen, remaining)
        return True

    def lag(self) -> dict[str, int]:
        head = self.ledger.head()
        return {p.name: head - self.position(p.name) for p in self.projections}

    def status(self) -> list[ProjectionStatus]:
        """Each projection's position, lag and state, as health and metrics report it."""
        head = self.ledger.head()
        statuses = []
        with self.engine.connect() as conn:
            for p in self.projections:
                position = max(position_of(conn, p.name), self._skipped.get(p.name, (0, 0))[1])
                stall = self.stalled.get(p.name)
                state = "stalled" if stall else ("following" if position >= head else "lagging")
                statuses.append(ProjectionStatus(p.name, position, head - position, state, stall))
        return statuses
