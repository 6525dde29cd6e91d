"""The installation: the enclave itself, created once by `strongroom init`."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate

INSTALLATION_ID = uuid5(NAMESPACE_URL, "strongroom:installation")


class AlreadyInitialised(Exception):
    """`strongroom init` ran before on this store."""


class Installation(AuditedAggregate):
    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        return INSTALLATION_ID

    @event("Initialised")
    def __init__(self, *, audit_key_id: str, audit_public_key: str, store_kind: str) -> None:
        self.audit_key_id = audit_key_id
        self.audit_public_key = audit_public_key
        self.store_kind = store_kind
