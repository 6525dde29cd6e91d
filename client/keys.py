"""A user's own keys: they are made here, kept here, and never sent anywhere.

Each user has an Ed25519 signing key (login, registration) and an X25519
encryption key (wrapped group and file keys arrive encrypted to it).  The key
file holds both as PKCS#8 PEM blocks encrypted with the user's passphrase
(`BestAvailableEncryption`), readable by its owner only.  The server only ever
receives the public halves.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from client.errors import KeyFileError
from domain.messages import login_message, registration_message

__all__ = ["KeyFileError", "UserKeys"]

_PEM_END = b"-----END ENCRYPTED PRIVATE KEY-----"


def _raw_public(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class UserKeys:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @classmethod
    def generate(cls) -> UserKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @property
    def signing_public_key(self) -> str:
        """Base64 of the raw 32-byte Ed25519 public key."""
        return _raw_public(self.signing)

    @property
    def encryption_public_key(self) -> str:
        """Base64 of the raw 32-byte X25519 public key."""
        return _raw_public(self.encryption)

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)

    def registration(self, email: str, name: str) -> dict[str, str]:
        """A registration request: both public keys, signed with the signing key."""
        message = registration_message(
            email, name, self.signing_public_key, self.encryption_public_key
        )
        return {
            "email": email,
            "name": name,
            "signing_public_key": self.signing_public_key,
            "encryption_public_key": self.encryption_public_key,
            "signature": base64.b64encode(self.sign(message)).decode(),
        }

    def login_signature(self, nonce: bytes, email: str) -> bytes:
        return self.sign(login_message(nonce, email))

    def save(self, path: Path, passphrase: str) -> None:
        """Write both keys, encrypted with `passphrase`, to a new file only its owner can read."""
        if not passphrase:
            raise KeyFileError("a passphrase is required to protect the key file")
        encryption = serialization.BestAvailableEncryption(passphrase.encode())
        pem = b"".join(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
            for key in (self.signing, self.encryption)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyFileError(f"{path} exists; refusing to overwrite a key file") from None
        with os.fdopen(fd, "wb") as out:
            out.write(pem)

    @classmethod
    def load(cls, path: Path, passphrase: str) -> UserKeys:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise KeyFileError(f"cannot read the key file {path}: {error.strerror}") from None
        blocks = [b + _PEM_END for b in data.split(_PEM_END) if b.strip()]
        if len(blocks) != 2:
            raise KeyFileError(f"{path} is not a Strongroom key file")
        try:
            keys = [
                serialization.load_pem_private_key(block, password=passphrase.encode())
                for block in blocks
            ]
        except (ValueError, TypeError):
            raise KeyFileError(f"wrong passphrase for {path}, or the file is damaged") from None
        signing, encryption = keys
        if not isinstance(signing, Ed25519PrivateKey) or not isinstance(
            encryption, X25519PrivateKey
        ):
            raise KeyFileError(f"{path} does not hold an Ed25519 and an X25519 key")
        return cls(signing, encryption)

    def private_bytes_for_audit(self) -> list[bytes]:
        """The raw private key bytes, so tests can prove they never reach the server."""
        return [
            self.signing.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            ),
            self.encryption.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            ),
        ]
