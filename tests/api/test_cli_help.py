"""Every command says what it does, and every option and argument what it is for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from api.cli import cli


def commands(command: Any, path: str = "strongroom") -> Iterator[tuple[str, Any]]:
    """Each command of the tree under `command` (a group's are in `.commands`), with its path."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_every_command_and_parameter_has_help() -> None:
    undocumented = []
    for path, command in commands(typer.main.get_command(cli)):
        if not (command.help or "").strip():
            undocumented.append(path)
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                undocumented.append(f"{path} {param.name}")
    assert undocumented == []


def test_every_listing_and_show_offers_json() -> None:
    everything = dict(commands(typer.main.get_command(cli)))
    for path in (
        "user list",
        "user me",
        "user show",
        "team list",
        "team show",
        "profile list",
        "alerts list",
        "projections status",
    ):
        options = [o for p in everything[f"strongroom {path}"].params for o in p.opts]
        assert "--json" in options, path
