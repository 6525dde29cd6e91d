"""Signed checkpoints over the hash chain, in the spirit of CloudTrail digest files.

A checkpoint says "the chain link at `position` has hash `chain_hash`", is signed
with the installation's Ed25519 audit key, and names the digest of the checkpoint
before it, so checkpoints form a chain of their own.  The newest one is also
written to a witness file outside the database: removing the tail of the store
together with its checkpoints is then still detected.

The signing key is a file under STRONGROOM_HOME, never stored in the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from adapters.ledger import stored

GENESIS_DIGEST = bytes(32)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    position: int
    chain_hash: bytes
    previous_digest: bytes
    sealed_at: str
    key_id: str
    signature: bytes

    def body(self) -> bytes:
        return signed_body(
            self.seq,
            self.position,
            self.chain_hash,
            self.previous_digest,
            self.sealed_at,
            self.key_id,
        )

    def digest(self) -> bytes:
        """What the next checkpoint names as its predecessor."""
        return sha256(self.body() + self.signature).digest()

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for name in ("chain_hash", "previous_digest", "signature"):
            data[name] = data[name].hex()
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Checkpoint:
        return cls(
            seq=int(str(data["seq"])),
            position=int(str(data["position"])),
            chain_hash=bytes.fromhex(str(data["chain_hash"])),
            previous_digest=bytes.fromhex(str(data["previous_digest"])),
            sealed_at=stored.text(data["sealed_at"], "sealed_at"),
            key_id=stored.text(data["key_id"], "key_id"),
            signature=bytes.fromhex(str(data["signature"])),
        )


def stored_checkpoint(
    seq: object,
    position: object,
    chain_hash: object,
    previous_digest: object,
    sealed_at: object,
    key_id: object,
    signature: object,
) -> Checkpoint:
    """The checkpoint a stored row holds; `stored.Malformed` if a column is not what was written."""
    return Checkpoint(
        seq=stored.integer(seq, "seq"),
        position=stored.integer(position, "position"),
        chain_hash=stored.blob(chain_hash, "chain_hash"),
        previous_digest=stored.blob(previous_digest, "previous_digest"),
        sealed_at=stored.text(sealed_at, "sealed_at"),
        key_id=stored.text(key_id, "key_id"),
        signature=stored.blob(signature, "signature"),
    )


def signed_body(
    seq: int,
    position: int,
    chain_hash: bytes,
    previous_digest: bytes,
    sealed_at: str,
    key_id: str,
) -> bytes:
    """The exact bytes the audit key signs (checkpoint format version 1)."""
    return (
        "strongroom-checkpoint-v1\n"
        f"seq={seq}\n"
        f"position={position}\n"
        f"chain_hash={chain_hash.hex()}\n"
        f"previous={previous_digest.hex()}\n"
        f"sealed_at={sealed_at}\n"
        f"key_id={key_id}\n"
    ).encode()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class AuditKeyError(RuntimeError):
    """The audit signing key or its public half is missing or unreadable."""


def create_signing_key(private_path: Path, public_path: Path) -> Ed25519PublicKey:
    """Create the audit key pair; the private half is readable by its owner only."""
    if private_path.exists():
        raise AuditKeyError(f"an audit signing key already exists at {private_path}")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_text(public_key_pem(key.public_key()))
    return key.public_key()


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit public key at {path}: run `strongroom init`, or pass --public-key"
        ) from None
    except (OSError, ValueError) as error:
        raise AuditKeyError(f"cannot read the audit public key at {path}: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} is not an Ed25519 public key")
    return key


class CheckpointSigner:
    """Signs checkpoints (and snapshots) with the audit key; holds the only copy of it in memory."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> CheckpointSigner:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise AuditKeyError(
                f"no audit signing key at {path}: run `strongroom init` first"
            ) from None
        except (OSError, ValueError) as error:
            raise AuditKeyError(f"cannot read the audit signing key at {path}: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign_message(self, message: bytes) -> bytes:
        """The audit key's Ed25519 signature over `message` (snapshots use this)."""
        return self._key.sign(message)

    def sign(
        self,
        *,
        seq: int,
        position: int,
        chain_hash: bytes,
        previous_digest: bytes,
        sealed_at: datetime,
    ) -> Checkpoint:
        stamp = sealed_at.astimezone(UTC).isoformat()
        body = signed_body(seq, position, chain_hash, previous_digest, stamp, self.key_id)
        return Checkpoint(
            seq=seq,
            position=position,
            chain_hash=chain_hash,
            previous_digest=previous_digest,
            sealed_at=stamp,
            key_id=self.key_id,
            signature=self._key.sign(body),
        )


def signature_is_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(checkpoint.signature, checkpoint.body())
    except InvalidSignature:
        return False
    return True


class Witness:
    """The newest checkpoint, kept in a file beside the signing key, outside the database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Checkpoint | None:
        """The checkpoint held, None if there is none; `stored.Malformed` if the file is not one."""
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise stored.Malformed("it holds no JSON object")
            return Checkpoint.from_json(data)
        except FileNotFoundError:
            return None
        except stored.Malformed as error:
            raise stored.Malformed(
                f"the witness file {self.path} is not a checkpoint: {error}"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise stored.Malformed(
                f"the witness file {self.path} is not a checkpoint ({type(error).__name__})"
            ) from None

    def record(self, checkpoint: Checkpoint) -> None:
        """Keep `checkpoint` if it is newer than the one held (several writers may race)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held = None
            with contextlib.suppress(ValueError, KeyError):
                held = self.read()
            if held is not None and held.seq >= checkpoint.seq:
                return
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(checkpoint.to_json(), indent=2))
            os.replace(temporary, self.path)
