"""One error type whose message is a single line naming the source and the step."""

from __future__ import annotations


class MigrationError(Exception):
    """A failure of one step against one source; str() is the line shown to the operator."""

    def __init__(self, source: str, step: str, detail: str) -> None:
        # Servers answer with multi-line texts; the operator gets exactly one line.
        self.source = source
        self.step = step
        self.detail = " ".join(str(detail).split()) or "failed"
        super().__init__(f"{source}: {step}: {self.detail}")


class RefusedError(MigrationError):
    """Pre-flight said no: nothing was copied."""
