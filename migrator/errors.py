"""The migrator's errors: one base class, each message a single line for the operator.

Every exception class defined in migrator/ derives from MigratorError, so a caller (glue's CLI,
later the panel) catches one type and shows str() as it is. The receiver (receiver.py) is the
exception: it runs alone on the account's server and reports its refusals as SinkError here.
"""

from __future__ import annotations


class MigratorError(Exception):
    """Base of every error the migrator raises on purpose; str() is one complete line."""


class MigrationError(MigratorError):
    """A failure of one step against one source; str() is the line shown to the operator."""

    def __init__(self, source: str, step: str, detail: str) -> None:
        # Servers answer with multi-line texts; the operator gets exactly one line.
        self.source = source
        self.step = step
        self.detail = " ".join(str(detail).split()) or "failed"
        super().__init__(f"{source}: {step}: {self.detail}")
