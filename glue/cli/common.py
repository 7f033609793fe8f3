"""What every command group shares: the root's Context, JSON and table output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # imported lazily: `bubble --help` must start fast
    from glue.services.context import Context

RootOption = typer.Option(
    None,
    "--root",
    envvar="BUBBLE_ROOT",
    help="Operator root (catalog/, state/). Default: .",
    show_default=False,
)
JsonOption = typer.Option(False, "--json", help="Machine-readable output.")


def context(ctx: typer.Context) -> Context:
    """The Context made by the top-level callback (`--root`)."""
    from glue.services.context import Context

    obj = ctx.find_root().obj
    if not isinstance(obj, Context):  # a sub-app invoked on its own (tests, python -m)
        from glue.settings import Settings

        settings = Settings()
        obj = Context(root=Path(settings.root), settings=settings)
        ctx.find_root().obj = obj
    return obj


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console().print(table)


def say(message: str) -> None:
    from rich.console import Console

    Console(highlight=False, soft_wrap=True).print(message)
