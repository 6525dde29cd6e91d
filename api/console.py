"""Where the CLI writes: results on stdout, one-line errors on stderr, progress bars.

Text that came from the server or the store is printed through `safe()`, always:
records older than the rules that now refuse control characters still exist,
and a name must never drive the terminal of the person reading it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# soft_wrap: lines stay whole whatever the terminal width. emoji=False: a stored
# ":warning:" is text, not a picture.
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON (the API's own shape) instead of text.")
]

# C0 controls (NUL, ESC, CR, TAB, ...), DEL, C1 controls (CSI is U+009B), the bidi
# embeddings, overrides, isolates and marks, and the Unicode line separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, markup: bool = True) -> str:
    """`value` as text that a terminal shows but never obeys.

    Control and bidirectional characters become visible escapes (ESC prints as
    the four characters `\\x1b`, U+202E as `\\u202e`) and, for text printed
    through Rich (`markup=True`), Rich markup such as `[bold]` prints as written.
    Use it for every string that came from the server, the store or the user.
    """
    text = _UNSAFE.sub(_visible, str(value))
    return escape(text) if markup else text


def is_terminal() -> bool:
    return sys.stdout.isatty()


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong in one line and exit with `code` (1 refused, 2 unusable input)."""
    # Messages quote things like [denied_burst] and what the server said.
    err.print(f"[bold red]error:[/] {safe(message)}", highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout; non-ASCII as \\u escapes, so it is terminal-safe too."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True) + "\n")


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Rows under a header: a table on a terminal, tab-separated lines otherwise.

    On a terminal, Rich fits the table to the width by folding long cells (never
    by cutting them short; an `id` column stays whole). Into a pipe, every value
    goes whole, one row a line;
    a tab or newline inside a value is shown as `\\x09` or `\\x0a`, so it cannot
    split a row.
    """
    if not is_terminal():
        for row in [columns, *rows]:
            sys.stdout.write("\t".join(safe(value, markup=False) for value in row) + "\n")
        return
    from rich.table import Column, Table

    cells = [[safe(value) for value in row] for row in rows]
    # An id is for copying: it keeps its width, and the other columns fold around it.
    grid = Table(
        *(
            Column(
                name,
                overflow="fold",
                min_width=max((len(r[i]) for r in cells), default=0) if name == "id" else None,
            )
            for i, name in enumerate(columns)
        )
    )
    for row in cells:
        grid.add_row(*row)
    out.print(grid)


def fields(record: Mapping[str, Any]) -> None:
    """One record as `name  value` lines (lists comma-separated, nothing as -)."""
    width = max((len(name) for name in record), default=0)
    for name, value in record.items():
        out.print(f"{safe(name):{width}}  {safe(_plain(value))}", highlight=False)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


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
        TextColumn(safe(label)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        yield Bar(progress, progress.add_task(label, total=None))
