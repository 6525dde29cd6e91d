"""Scoped, expiring, revocable API tokens for SIEMs and auditors: made, listed, revoked here.

Compliance officers only, with a session: a token can never reach these routes
(they declare no scope), so no token makes or revokes another. The secret is
made here, shown once in the 201, and only its SHA-256 hash is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BaseModel, Field

from api.context import token_hash
from api.deps import CurrentPrincipal, capability
from api.schemas import Moment, error_responses
from api.token_scope import new_api_token
from domain.machine_access import MachineAccess, TokenListing
from domain.tokens import MAX_DAYS, NAME_LENGTH, REASON_LENGTH, TOKEN_ID_DIGITS, TokenScope

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses=error_responses(401, 403, 422),
)

TokenUseCases = Annotated[MachineAccess, Depends(capability(MachineAccess))]


def _each_once(scopes: list[TokenScope]) -> list[TokenScope]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("each scope may appear once")
    return scopes


TokenId = Annotated[
    str,
    Path(
        pattern=rf"^[0-9a-f]{{{TOKEN_ID_DIGITS}}}$",
        description=f"the token's public id ({TOKEN_ID_DIGITS} hex digits)",
    ),
]


class NewToken(BaseModel):
    name: str = Field(
        min_length=1, max_length=NAME_LENGTH, description="what the token is for: a label"
    )
    scopes: Annotated[
        list[TokenScope],
        Field(
            min_length=1,
            max_length=3,
            json_schema_extra={"uniqueItems": True},
            description="query (forensic queries), stream (the alert stream), export (reads)",
        ),
        AfterValidator(_each_once),
    ]
    expires_in_days: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_DAYS,
        description=f"1 to {MAX_DAYS}; or give expires_at (30 days if neither is given)",
    )
    expires_at: datetime | None = Field(
        default=None, description="with its UTC offset; from 1 hour to 365 days from now"
    )


class IssuedToken(BaseModel):
    token_id: str = Field(description="the public id: list, revoke and find its uses by it")
    secret: str = Field(
        description="send as `Authorization: Bearer <secret>`; shown now and never again"
    )
    name: str
    scopes: list[str]
    created_at: Moment
    expires_at: Moment


class TokenOut(BaseModel):
    token_id: str
    name: str
    scopes: list[str]
    status: str = Field(description="active, expired or revoked")
    created_by: str = Field(description="the creator's user id; the token acts as them")
    created_by_email: str | None
    created_at: Moment
    expires_at: Moment
    revoked_at: Moment | None
    revoked_by_email: str | None
    revoke_reason: str | None


class TokenList(BaseModel):
    tokens: list[TokenOut]


DEFAULT_DAYS = 30


def token_out(listing: TokenListing) -> TokenOut:
    return TokenOut(
        token_id=listing.token_id,
        name=listing.name,
        scopes=listing.scopes,
        status=listing.status,
        created_by=str(listing.created_by),
        created_by_email=listing.created_by_email,
        created_at=listing.created_at,
        expires_at=listing.expires_at,
        revoked_at=listing.revoked_at,
        revoked_by_email=listing.revoked_by_email,
        revoke_reason=listing.revoke_reason,
    )


@router.post("/tokens", status_code=201, responses=error_responses(409))
def create_token(body: NewToken, tokens: TokenUseCases, principal: CurrentPrincipal) -> IssuedToken:
    """A new API token for the acting officer; its secret is in this answer only."""
    secret = new_api_token()
    days = body.expires_in_days
    if days is None and body.expires_at is None:
        days = DEFAULT_DAYS
    made = tokens.create_token(
        name=body.name,
        scopes=[str(scope) for scope in body.scopes],
        token_hash=token_hash(secret),
        expires_in_days=days,
        expires_at=body.expires_at,
    )
    return IssuedToken(
        token_id=made.token_id,
        secret=secret,
        name=made.name,
        scopes=made.scopes,
        created_at=made.created_at,
        expires_at=made.expires_at,
    )


@router.get("/tokens")
def list_tokens(tokens: TokenUseCases, principal: CurrentPrincipal) -> TokenList:
    """Every API token, with who made it (by email) and its status; the read is recorded."""
    return TokenList(tokens=[token_out(t) for t in tokens.list_tokens()])


@router.delete("/tokens/{token_id}", status_code=204, responses=error_responses(404, 409))
def revoke_token(
    token_id: TokenId,
    tokens: TokenUseCases,
    principal: CurrentPrincipal,
    reason: Annotated[str, Query(max_length=REASON_LENGTH, description="why, for the record")] = "",
) -> Response:
    """Revoke a token (any officer, any token): every later use is refused, 401, recorded."""
    tokens.revoke_token(token_id, reason)
    return Response(status_code=204)
