"""The installation: the enclave itself, created once by `strongroom init`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import AuditedAggregate
from domain.capability import Capability
from domain.errors import Conflict

if TYPE_CHECKING:
    from domain.identity import Registration

INSTALLATION_ID = uuid5(NAMESPACE_URL, "strongroom:installation")


class AlreadyInitialised(Conflict):
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


class Setup(Capability):
    def initialise(
        self,
        *,
        audit_key_id: str,
        audit_public_key: str,
        store_kind: str,
        first_super_admin: Registration,
    ) -> UUID:
        """Record the installation, its audit key and its first super-admin, all or nothing."""
        from domain.identity import Identity

        if self.is_initialised():
            raise AlreadyInitialised("this store is already initialised")
        installation = Installation(
            audit_key_id=audit_key_id,
            audit_public_key=audit_public_key,
            store_kind=store_kind,
        )
        return Identity(self.app).bootstrap_super_admin(first_super_admin, installation)

    def is_initialised(self) -> bool:
        return self.find(Installation, INSTALLATION_ID) is not None

    def installation(self) -> Installation:
        return self.load(Installation, INSTALLATION_ID)
