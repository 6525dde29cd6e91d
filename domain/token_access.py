"""The rules for API tokens: officers make, list and revoke them; a token reaches only its scope.

A token acts as the officer who created it, and only while that officer could
act: whoever loses the audit capability (or is deactivated, locked, made an
escrow user) silently disables every token they made. A request with a token
reaches a route only when the route declares a scope (api/token_scope.py) and
the token holds it; every other route is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.access import Decision, Permission, Resource, Subject, allow, deny, permitted, rule_for


class TokenAction(StrEnum):
    CREATE_TOKEN = "create-token"
    LIST_TOKENS = "list-tokens"
    REVOKE_TOKEN = "revoke-token"
    USE_TOKEN = "use-token"


OFFICERS_ONLY = "only compliance officers (the audit capability) manage API tokens"


@dataclass(frozen=True)
class ApiTokens(Resource):
    """The installation's API tokens as a whole: creating one, listing them."""


@dataclass(frozen=True)
class ApiToken(Resource):
    """One token, by its public id: revoking it, or its creator standing behind it."""

    token_id: str

    def describe(self) -> str:
        return f"token:{self.token_id}"


@dataclass(frozen=True)
class ScopedRoute(Resource):
    """A route a request with a token asks for; `scope` is None when the route declares none."""

    token_id: str
    token_scopes: frozenset[str]
    scope: str | None
    route: str

    def describe(self) -> str:
        return f"token:{self.token_id}"


@rule_for(ApiTokens)
def _api_tokens(actor: Subject, action: StrEnum, resource: ApiTokens) -> Decision:
    if action not in (TokenAction.CREATE_TOKEN, TokenAction.LIST_TOKENS):
        return deny(f"no rule allows {action}")
    if permitted(actor, Permission.AUDIT):
        return allow("compliance officers manage API tokens")
    return deny(OFFICERS_ONLY)


@rule_for(ApiToken)
def _api_token(actor: Subject, action: StrEnum, resource: ApiToken) -> Decision:
    if action is TokenAction.REVOKE_TOKEN:
        # Any officer may revoke any token: a leaked one must not wait for its maker.
        if permitted(actor, Permission.AUDIT):
            return allow("compliance officers revoke API tokens")
        return deny(OFFICERS_ONLY)
    if action is TokenAction.USE_TOKEN:
        # `actor` is the token's creator: the token is only as good as its maker.
        if permitted(actor, Permission.AUDIT):
            return allow("the token's creator holds the audit capability")
        return deny("the token's creator no longer holds the audit capability")
    return deny(f"no rule allows {action}")


@rule_for(ScopedRoute)
def _scoped_route(actor: Subject, action: StrEnum, resource: ScopedRoute) -> Decision:
    if action is not TokenAction.USE_TOKEN:
        return deny(f"no rule allows {action}")
    if not permitted(actor, Permission.AUDIT):
        return deny("the token's creator no longer holds the audit capability")
    if resource.scope is None:
        return deny(f"{resource.route} accepts no API token (sessions only)")
    if resource.scope not in resource.token_scopes:
        held = ", ".join(sorted(resource.token_scopes))
        return deny(f"{resource.route} needs the {resource.scope} scope; the token holds {held}")
    return allow(f"the token holds the {resource.scope} scope")
