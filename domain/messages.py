"""What clients sign: the exact bytes of a login and of a registration.

Pure functions with no imports beyond the language, so the client package can
use them without loading the server side.
"""

from __future__ import annotations


def login_message(nonce: bytes, email: str) -> bytes:
    """What a client signs to log in: the challenge, bound to the account."""
    return b"strongroom-login-v1\n" + nonce + b"\n" + email.strip().lower().encode()


def registration_message(
    email: str, name: str, signing_public_key: str, encryption_public_key: str
) -> bytes:
    """What a registrant signs with its new signing key: proof it holds that key."""
    return "\n".join(
        (
            "strongroom-registration-v1",
            email.strip().lower(),
            name.strip(),
            signing_public_key,
            encryption_public_key,
        )
    ).encode()
