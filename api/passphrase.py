"""Where the CLI gets a key file's passphrase: the environment, or asked without echo."""

from __future__ import annotations

import os

import typer

PASSPHRASE_VARIABLE = "STRONGROOM_PASSPHRASE"


def passphrase(*, confirm: bool) -> str:
    """From STRONGROOM_PASSPHRASE, or asked for without echo."""
    given = os.environ.get(PASSPHRASE_VARIABLE)
    if given:
        return given
    return str(typer.prompt("Key file passphrase", hide_input=True, confirmation_prompt=confirm))
