"""The one way to wire Strongroom: `with bootstrap(settings) as system: ...`.

The API, the CLI, the demo, tests and benchmarks all build the system here: the
application on the configured store, the typed port to the ledger, the alert
rules from their file, and — built when first used — the projection runner
(with those rules) and the periodic sealer. Slots for the adapters the next
capabilities bring (libvirt, the chunk store, the SFTP backup target) live on
`Adapters`; each is plugged in here and nowhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from adapters.clock import SystemClock
from adapters.ledger.port import Ledger
from adapters.ledger.sealer import PeriodicSealer
from adapters.settings import Settings
from adapters.signatures import Ed25519Verifier
from domain.application import Strongroom
from domain.clock import Clock, install_clock

if TYPE_CHECKING:
    from projections.alert_rules import AlertRules
    from projections.compliance import CertificationExpiry
    from projections.runner import ProjectionRunner, Stall


@dataclass
class Adapters:
    """The outside world, as ports; filled in as their capabilities land."""

    hypervisor: Any = None  # libvirt (the VM issue)
    chunks: Any = None  # the vault's chunk store (the vault issue)
    backups: Any = None  # the SFTP backup target (the backups issue)


@dataclass
class System:
    """Everything wired: what a server runs, what a command needs."""

    settings: Settings
    clock: Clock
    app: Strongroom
    ledger: Ledger
    adapters: Adapters = field(default_factory=Adapters)
    _started: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def rules(self) -> AlertRules:
        """The alert rules from `STRONGROOM_ALERT_RULES` (a bad file is refused here)."""
        from projections.alert_rules import AlertRules

        return AlertRules.load(self.settings.alert_rules_path)

    @cached_property
    def projections(self) -> ProjectionRunner:
        """The runner over every read model and process, with the configured alert rules."""
        from projections.catalogue import open_runner

        return open_runner(
            self.settings.projections_url,
            self.app,
            self.ledger,
            rules=self.rules,
            on_stall=self._alert_stalled,
        )

    @cached_property
    def sealer(self) -> PeriodicSealer:
        return PeriodicSealer(self.ledger.seal, self.settings.checkpoint_seconds)

    @cached_property
    def expiry(self) -> CertificationExpiry:
        """Records certifications' expiries on the clock, every STRONGROOM_EXPIRY_SECONDS."""
        from projections.compliance import CertificationExpiry

        return CertificationExpiry(
            self.app,
            self.projections,
            self.clock,
            self.rules,
            every_seconds=self.settings.expiry_seconds,
        )

    def start(self) -> None:
        """Run the background work of a server: sealing, following the log, expiry."""
        with self._lock:
            self.sealer.start()
            self._started.append("sealer")
            self.projections.start()
            self._started.append("projections")
            self.expiry.start()
            self._started.append("expiry")

    def close(self) -> None:
        with self._lock:
            # The expiry process reads the read models: it stops before their runner.
            if "expiry" in self._started:
                self.expiry.stop()
            if "projections" in self._started:
                self.projections.stop()
            if "sealer" in self._started:
                self.sealer.stop()
            self._started.clear()
            if "projections" in self.__dict__:
                self.projections.engine.dispose()
            self.app.close()

    def _alert_stalled(self, name: str, stall: Stall) -> None:
        # Straight into the log, through no projection: the alerts read model
        # may be the one that stalled.
        from domain.alerts import Alerts

        Alerts(self.app).raise_system_alert(
            f"projection-stalled:{name}",
            stall.position,
            type="Projection stalled",
            severity="critical",
            subject=f"projection:{name}",
            message=f"the {name} read model stopped at position {stall.position}: {stall.reason}",
        )


def open_system(settings: Settings, *, clock: Clock | None = None) -> System:
    """The wired system; the caller closes it (`bootstrap` does that for you)."""
    clock = clock or SystemClock()
    install_clock(clock)
    if settings.store.kind == "sqlite":
        settings.home.mkdir(parents=True, exist_ok=True)
    app = Strongroom(env=settings.app_env())
    try:
        app.signatures = Ed25519Verifier()
        ledger = Ledger(app.recorder)
    except BaseException:
        app.close()
        raise
    return System(settings=settings, clock=clock, app=app, ledger=ledger)


@contextmanager
def bootstrap(settings: Settings, *, clock: Clock | None = None) -> Iterator[System]:
    """Open the whole system for a block; everything started is stopped after it."""
    system = open_system(settings, clock=clock)
    try:
        yield system
    finally:
        system.close()
