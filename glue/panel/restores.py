"""The customer's restores from its backups: the archives listed and one file, database or
mailbox restored by `bubble backup restore`'s service (glue.services.backups), as a
background job of the panel server (glue.panel.background). What is asked for is checked by
that service before the job exists: a bad path or another account's object runs nothing."""

from __future__ import annotations

import json
from typing import Any

from glue.errors import BubbleError
from glue.panel import background
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.services import backups

KINDS = ("path", "db", "mailbox")  # what a customer restores alone (not `all`)


def what(kind: str, value: str) -> str:
    """The service's `what` (`path:P`, `db:NAME`, `mailbox:ADDR`) from a form's fields."""
    if kind not in KINDS:
        raise BubbleError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if not value.strip():
        raise BubbleError(f"{kind}: give what to restore")
    return f"{kind}:{value.strip()}"


def start(found: Panel, who: Principal, account: str, asked: str, archive: str | None) -> int:
    """Check, then restore `asked` from `archive` (None: the newest) in the background."""
    ctx = found.context()
    backups.check_restore(ctx.catalog(), account, asked, archive)

    def work(job_id: int) -> tuple[str, str, str]:
        step = {"what": asked, "archive": archive or "", "state": "restoring"}
        background.progress(ctx.engine, job_id, {"restore": step})
        result = backups.restore(ctx, account, asked, archive)
        background.progress(ctx.engine, job_id, {"restore": {**step, "state": "done"}})
        return "done", "", json.dumps(result)

    return background.start(ctx.engine, who.name, account, "restore", work)


def latest(found: Panel, account: str) -> dict[str, Any] | None:
    return next(iter(background.rows(found.ctx.engine, account, "restore", limit=1)), None)
