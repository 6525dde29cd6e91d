"""What the chained recorders need beyond the library's own settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from eventsourcing.persistence import ProgrammingError
from eventsourcing.utils import Environment

from adapters.ledger.checkpoints import CheckpointSigner, Witness
from domain import clock

DEFAULT_CHECKPOINT_EVERY = 1000

# Keys read from the application's environment (the library adds the app prefix).
AUDIT_SIGNING_KEY = "AUDIT_SIGNING_KEY"
AUDIT_WITNESS = "AUDIT_WITNESS"
CHECKPOINT_EVERY = "CHECKPOINT_EVERY"


@dataclass(frozen=True)
class LedgerConfig:
    signer: CheckpointSigner
    checkpoint_every: int
    witness: Witness | None
    clock: Callable[[], datetime]

    @classmethod
    def from_env(cls, env: Environment) -> LedgerConfig:
        key_path = env.get(AUDIT_SIGNING_KEY)
        if not key_path:
            raise OSError(
                f"{AUDIT_SIGNING_KEY} is not set: the audit ledger cannot sign checkpoints"
            )
        witness_path = env.get(AUDIT_WITNESS)
        return cls(
            signer=CheckpointSigner.from_file(Path(key_path)),
            checkpoint_every=parse_checkpoint_every(env.get(CHECKPOINT_EVERY)),
            witness=Witness(Path(witness_path)) if witness_path else None,
            clock=clock.now,  # the injected clock, as for events
        )


def parse_checkpoint_every(value: str | None) -> int:
    if not value:
        return DEFAULT_CHECKPOINT_EVERY
    try:
        every = int(value)
    except ValueError:
        raise OSError(f"{CHECKPOINT_EVERY} must be a whole number, not {value!r}") from None
    if every < 1:
        raise OSError(f"{CHECKPOINT_EVERY} must be at least 1, not {every}")
    return every


def refuse_unchained_recorder(kind: str) -> ProgrammingError:
    """The library's other recorders write events without the chain: never hand them out."""
    return ProgrammingError(
        f"the ledger has no chained {kind} recorder: record events through the application "
        "recorder, or add a chained one (see docs/decisions/0001-chain-in-a-side-table.md)"
    )
