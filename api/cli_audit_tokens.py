"""`strongroom audit token create|list|revoke`: API tokens for SIEMs and auditors.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every question asked is recorded with who asked.
The secret of a new token is printed once, here; the server keeps only its hash.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli_server import audit_cli
from api.console import AsJson, err, fields, out, print_json, safe, table

token_cli = typer.Typer(
    help="API tokens for SIEMs and auditors' scripts: scoped, expiring, revocable (officers).",
    no_args_is_help=True,
)
audit_cli.add_typer(token_cli, name="token")

NOT_SHOWN_AGAIN = (
    "Store the secret now: it is not shown again (the server keeps only its hash). "
    "Send it as `Authorization: Bearer <secret>`."
)


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'Splunk forwarder'.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="query, stream or export; repeat for more than one.",
            show_default=False,
        ),
    ],
    days: Annotated[int, typer.Option(help="Days until it expires (1 to 365).")] = 30,
    as_json: AsJson = False,
) -> None:
    """Make a token that acts as you, within its scopes, until it expires or is revoked."""
    from api.cli_people import logged_in

    with logged_in() as client:
        made = client.create_api_token(name, scope, days=days)
    if as_json:
        print_json(made)
    else:
        fields(
            {
                "token_id": made["token_id"],
                "name": made["name"],
                "scopes": made["scopes"],
                "expires_at": made["expires_at"],
                "secret": made["secret"],
            }
        )
    err.print(f"[bold yellow]warning:[/] {safe(NOT_SHOWN_AGAIN)}", highlight=False)


@token_cli.command("list")
def token_list(as_json: AsJson = False) -> None:
    """Every token, its maker, scopes and status (your read is recorded)."""
    from api.cli_people import logged_in

    with logged_in() as client:
        tokens = client.api_tokens()
    if as_json:
        print_json(tokens)
        return
    table(
        ("id", "name", "scopes", "status", "created_by", "expires_at", "revoked_at"),
        (_row(token) for token in tokens),
    )


def _row(token: dict[str, Any]) -> tuple[object, ...]:
    return (
        token["token_id"],
        token["name"],
        ",".join(token["scopes"]),
        token["status"],
        token["created_by_email"] or token["created_by"],
        token["expires_at"],
        token["revoked_at"] or "-",
    )


@token_cli.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `audit token list`).")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Revoke a token (any officer, any token): every later use is refused and recorded."""
    from api.cli_people import logged_in

    with logged_in() as client:
        client.revoke_api_token(token_id, reason)
    out.print(f"Revoked token {safe(token_id)}.", highlight=False)
