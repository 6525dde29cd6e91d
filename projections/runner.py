"""Follows the one audit timeline and keeps read models up to date, exactly once.

Each projection owns SQLAlchemy tables and a row in `projection_tracking`. The
runner pulls the notification log in pages (both stores; the library's own runner
needs subscriptions, which its SQLite recorder lacks), applies each page inside
one read-model transaction, and moves the tracking position to the page's last
event in that same transaction, including events the projection ignores.
A crash anywhere rolls the page back, and the next run applies it again from
the tracked position. So every event is applied exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import BigInteger, Column, MetaData, String, Table, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

metadata = MetaData()

tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

PAGE = 1000


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
        """Hook for work done once per page, in its transaction (e.g. raising alerts)."""
        return None


@dataclass
class Hooks:
    """Points where tests can stop the runner, as a crash would."""

    between_apply_and_commit: Callable[[int], None] | None = None
    after_commit: Callable[[str, int], None] | None = None  # (projection, position)


def position_of(conn: Connection, name: str) -> int:
    row = conn.execute(select(tracking.c.position).where(tracking.c.name == name)).first()
    return int(row[0]) if row else 0


class AnotherRunnerMovedOn(Exception):
    """Another runner committed this page first; ours rolls back and reads on."""


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


class ProjectionRunner:
    """Catches up and follows the log for a set of projections."""

    def __init__(
        self,
        *,
        engine: Engine,
        recorder: Any,
        decode: Callable[[Notification], Any],
        projections: Iterable[Projection],
        hooks: Hooks | None = None,
        page: int = PAGE,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.decode = decode
        self.projections = list(projections)
        self.hooks = hooks or Hooks()
        self.page = page
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Counts committed pages, so readers (the SSE stream) wait for progress
        # instead of polling the read models.
        self._progress = threading.Condition()
        self.pages_committed = 0
        # Projections keep per-page buffers: one page at a time per runner, whichever
        # thread asks (other runners are kept out by the compare-and-set).
        self._one_page_at_a_time = threading.Lock()
        self._thread: threading.Thread | None = None
        self.create_tables()

    def create_tables(self) -> None:
        tables = [tracking, *(t for p in self.projections for t in p.tables)]
        metadata.create_all(self.engine, tables=tables)

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise KeyError(f"no projection named {name!r} (known: {known})")

    # -- one projection -------------------------------------------------------------

    def position(self, name: str) -> int:
        with self.engine.connect() as conn:
            return position_of(conn, name)

    def run_page(self, projection: Projection) -> int:
        """Apply the next page; returns how many events it covered (0: caught up)."""
        try:
            with self._one_page_at_a_time:
                return self._apply_page(projection)
        except (AnotherRunnerMovedOn, IntegrityError):
            return 1  # someone else applied it; look again from where they left off

    def _apply_page(self, projection: Projection) -> int:
        with self.engine.begin() as conn:
            start = position_of(conn, projection.name)
            page = self.recorder.select_notifications(
                start=start, limit=self.page, inclusive_of_start=False
            )
            if not page:
                return 0
            projection.before_page(conn)
            for notification in page:
                if notification.topic in projection.topics:
                    projection.apply(conn, self.decode(notification), notification.id)
            projection.after_page(conn, page[-1].id)
            set_position(conn, projection.name, page[-1].id, was=start)
            if self.hooks.between_apply_and_commit is not None:
                self.hooks.between_apply_and_commit(page[-1].id)
        with self._progress:
            self.pages_committed += 1
            self._progress.notify_all()
        if self.hooks.after_commit is not None:
            self.hooks.after_commit(projection.name, page[-1].id)
        return len(page)

    def wait_for_progress(self, seen: int, timeout: float) -> int:
        """Block until a page commits after `seen` (a `pages_committed` value) or timeout."""
        with self._progress:
            self._progress.wait_for(lambda: self.pages_committed > seen, timeout=timeout)
            return self.pages_committed

    def catch_up(
        self, projection: Projection, progress: Callable[[int], None] | None = None
    ) -> int:
        total = 0
        while covered := self.run_page(projection):
            total += covered
            if progress is not None:
                progress(self.position(projection.name))
        return total

    def rebuild(self, name: str, progress: Callable[[int], None] | None = None) -> int:
        """Empty a projection's tables and replay the whole log into them."""
        projection = self.projection(name)
        with self.engine.begin() as conn:
            for table in reversed(projection.tables):
                conn.execute(table.delete())
            conn.execute(tracking.delete().where(tracking.c.name == projection.name))
        return self.catch_up(projection, progress)

    # -- all of them, live ----------------------------------------------------------

    def catch_up_all(self) -> int:
        """Until a whole round moves nothing (a process may record new events, e.g. alerts)."""
        total = 0
        while covered := sum(self.catch_up(p) for p in self.projections):
            total += covered
        return total

    def notify(self) -> None:
        """Something was recorded: look now rather than at the next poll."""
        self._wake.set()

    def start(self, poll_seconds: float | None = None) -> None:
        """Follow the log in a thread: woken by new events, with polling as a safety net.

        On Postgres the recorder's LISTEN wakes it for commits by any process, so
        the poll is slow; SQLite has no such channel across processes, so it polls
        quickly (in this process, commits wake it at once either way).
        """
        listen = getattr(self.recorder, "listen", None)
        if listen is not None:
            listen(self.notify, self._stop)
        if poll_seconds is None:
            poll_seconds = 2.0 if listen is not None else 0.05

        def follow() -> None:
            while not self._stop.is_set():
                try:
                    self.catch_up_all()
                except Exception:  # the next round retries from the tracked position
                    log.exception("projection runner failed a round")
                self._wake.wait(poll_seconds)
                self._wake.clear()

        self._thread = threading.Thread(target=follow, name="projections", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_until_current(self, names: list[str], timeout: float = 2.0) -> bool:
        """Wait until these read models hold everything recorded before this call.

        Queries answered from read models then see the caller's own earlier writes.
        Returns False (and the caller serves what there is) if they lag beyond `timeout`.
        """
        head = self.recorder.max_notification_id() or 0
        deadline = time.monotonic() + timeout
        for name in names:
            while self.position(name) < head:
                seen = self.pages_committed
                if self.position(name) >= head:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.notify()
                self.wait_for_progress(seen, remaining)
        return True

    def lag(self) -> dict[str, int]:
        head = self.recorder.max_notification_id() or 0
        return {p.name: head - self.position(p.name) for p in self.projections}
