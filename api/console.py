"""Where the CLI writes: results on stdout, one-line errors on stderr."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# soft_wrap: messages stay on one line whatever the terminal width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong in one line and exit with `code` (1 refused, 2 unusable input)."""
    # Escaped: messages quote things like [denied_burst] that Rich would take as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)
