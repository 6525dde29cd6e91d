"""The audit ledger's public face: the key that signs its checkpoints."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from adapters.ledger.checkpoints import key_id_of, load_public_key
from api.deps import CurrentSettings

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class PublicKey(BaseModel):
    key_id: str
    algorithm: str
    public_key_pem: str


@router.get("/public-key")
def public_key(settings: CurrentSettings) -> PublicKey:
    """The Ed25519 public key that verifies the ledger's signed checkpoints."""
    key = load_public_key(settings.public_key_path)
    return PublicKey(
        key_id=key_id_of(key),
        algorithm="Ed25519",
        public_key_pem=settings.public_key_path.read_text(),
    )
