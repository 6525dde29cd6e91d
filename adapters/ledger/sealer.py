"""Seals the chain head every T seconds, so a quiet store is not left unsigned for long."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicSealer:
    def __init__(self, seal: Callable[[], object], every_seconds: float) -> None:
        self._seal = seal
        self._every = every_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop, sealing once more so nothing recorded before shutdown is left unsigned."""
        self._stopped.set()
        self._thread.join()
        self._seal_logging_errors()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            self._seal_logging_errors()

    def _seal_logging_errors(self) -> None:
        try:
            self._seal()
        except Exception:  # the next round tries again; the failure must not end the loop
            log.exception("sealing the audit ledger failed")
