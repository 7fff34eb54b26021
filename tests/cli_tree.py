"""The CLI's commands as a flat list, for the tests that check every one of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """``("cert list", <click command>)`` for every command below ``command`` (a click group,
    e.g. ``typer.main.get_command(app)``), groups walked, not listed."""
    children = getattr(command, "commands", None)
    if children is None:
        yield " ".join(path), command
        return
    for name, child in children.items():
        yield from leaves(child, (*path, name))
