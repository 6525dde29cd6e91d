"""Where the CLI writes: results on stdout, one-line errors on stderr, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

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


@dataclass
class Bar:
    _progress: Any
    _task: Any

    def total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance_to(self, done: int) -> None:
        self._progress.update(self._task, completed=done)


@contextmanager
def progress_bar(label: str) -> Iterator[Bar]:
    """A progress bar on stderr for long work (shown only on a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(escape(label)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        yield Bar(progress, progress.add_task(label, total=None))
