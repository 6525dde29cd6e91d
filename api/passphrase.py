"""Where the CLI gets a key file's passphrase: the environment, or asked without echo."""

from __future__ import annotations

import os
import sys

import typer

from api.console import fail

PASSPHRASE_VARIABLE = "STRONGROOM_PASSPHRASE"


def passphrase(*, confirm: bool) -> str:
    """From STRONGROOM_PASSPHRASE, or asked for without echo on a terminal (exit 2 without one)."""
    given = os.environ.get(PASSPHRASE_VARIABLE)
    if given:
        return given
    if not sys.stdin.isatty():
        # A prompt would read stdin instead: hang on a pipe nobody writes to, or
        # abort with a bare "Aborted!" on an empty one.
        fail(f"no terminal to ask for the key file's passphrase: set {PASSPHRASE_VARIABLE}", code=2)
    return str(typer.prompt("Key file passphrase", hide_input=True, confirmation_prompt=confirm))
