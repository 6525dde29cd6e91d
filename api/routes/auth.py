"""Login without server-side passwords: sign a single-use challenge, get a session."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.context import bearer_token, token_hash
from api.deps import CurrentPrincipal, LoginUseCases
from api.schemas import error_responses
from domain import text
from domain.errors import InvalidInput
from domain.sessions import Session

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=error_responses(401))


class ChallengeRequest(BaseModel):
    email: str = Field(min_length=3, max_length=text.EMAIL_LENGTH)


class ChallengeResponse(BaseModel):
    nonce: str = Field(description="base64; sign `login_message(nonce, email)` with your key")
    expires_at: datetime


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=text.EMAIL_LENGTH)
    nonce: str = Field(max_length=100)
    signature: str = Field(max_length=200, description="base64 Ed25519 signature")


class LoginResponse(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    user_id: str
    role: str
    expires_at: datetime


def b64(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(field, "not base64") from None


@router.post("/challenge", responses=error_responses(422))
def challenge(body: ChallengeRequest, logins: LoginUseCases) -> ChallengeResponse:
    """A single-use nonce to sign, valid for one minute."""
    nonce = secrets.token_bytes(32)
    issued = logins.issue_challenge(body.email, nonce)
    return ChallengeResponse(nonce=base64.b64encode(nonce).decode(), expires_at=issued.expires_at)


# 409: two logins raced to use the same challenge; the loser may ask for a new one.
@router.post("/login", responses=error_responses(409, 422))
def login(body: LoginRequest, logins: LoginUseCases) -> LoginResponse:
    """Exchange a signed challenge for a session token (401, recorded, on any failure)."""
    token = secrets.token_urlsafe(32)
    principal = logins.login(
        email=body.email,
        nonce=b64("nonce", body.nonce),
        signature=b64("signature", body.signature),
        token_hash=token_hash(token),
    )
    session = logins.load(Session, principal.session_id)
    return LoginResponse(
        token=token,
        user_id=str(principal.user_id),
        role=str(principal.role),
        expires_at=session.expires_at,
    )


@router.post("/logout", status_code=204, responses=error_responses(409))
def logout(request: Request, logins: LoginUseCases, principal: CurrentPrincipal) -> Response:
    """End the current session."""
    token = bearer_token(request.headers)
    assert token is not None  # a principal exists only for a bearer token
    logins.logout(token_hash(token))
    return Response(status_code=204)
