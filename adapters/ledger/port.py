"""The typed port to the audit ledger, as the rest of the system uses it.

Both chained recorders (SQLite, Postgres) are `ChainedRecorder`s; `Ledger` wraps
the application's recorder and offers what callers need: seal the head now,
hear about commits (this process's, and other processes' where the store can
tell), and the head position.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from eventsourcing.persistence import ApplicationRecorder

from adapters.ledger.checkpoints import Checkpoint
from adapters.ledger.writer import LedgerWriter


class ChainedRecorder(ABC):
    """What the chained recorders add to the library's recorders."""

    ledger: LedgerWriter

    @abstractmethod
    def seal(self) -> Checkpoint | None:
        """Sign the current head now; None when it is already signed."""

    def listen(self, callback: Callable[[], None], stop: threading.Event) -> bool:
        """Call `callback` when any process commits events; False if the store cannot tell."""
        return False


class Ledger:
    def __init__(self, recorder: ApplicationRecorder) -> None:
        if not isinstance(recorder, ChainedRecorder):
            raise TypeError(
                f"{type(recorder).__name__} is not a chained recorder: "
                "events would be written around the hash chain"
            )
        self._recorder = recorder
        self._chained: ChainedRecorder = recorder

    def seal(self) -> Checkpoint | None:
        return self._chained.seal()

    def head(self) -> int:
        """The newest position in the log (0 when empty)."""
        return self._recorder.max_notification_id() or 0

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every commit of new events in this process."""
        self._chained.ledger.listeners.append(callback)

    def listen(self, callback: Callable[[], None], stop: threading.Event) -> bool:
        """Call `callback` on commits by any process (Postgres NOTIFY); False on SQLite."""
        return self._chained.listen(callback, stop)
