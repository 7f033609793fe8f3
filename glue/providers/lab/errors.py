"""Typed lab errors: one clear line naming the server (if any) and the step."""

from __future__ import annotations

from glue.errors import BubbleError


class LabError(BubbleError):
    """A lab operation failed; str() is a single line for the operator."""

    def __init__(self, step: str, message: str, server: str | None = None) -> None:
        self.step = step
        self.server = server
        self.message = " ".join(message.split()) or "failed"
        where = f"lab server {server}: " if server else "lab: "
        super().__init__(f"{where}{step}: {self.message}")
