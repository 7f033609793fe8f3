"""Asking before a destructive command: `--yes` answers for scripts; without it and without a
terminal to ask on, the command refuses rather than guess."""

from __future__ import annotations

import sys

import typer

from glue.errors import BubbleError

YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (scripts).")


def confirm(what: str, yes: bool) -> None:
    """Go on only if the operator agrees to `what` (e.g. "destroy server web1"); otherwise
    raise a one-line BubbleError before anything is done."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise BubbleError(f"this would {what}: pass --yes to confirm (no terminal to ask on)")
    try:
        agreed = typer.confirm(f"This will {what}. Continue?", default=False)
    except typer.Abort:  # end of input or Ctrl-C at the prompt
        agreed = False
    if not agreed:
        raise BubbleError(f"cancelled: did not {what}")
