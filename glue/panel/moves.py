"""An admin moves an account to another server: `bubble account move`'s service
(glue.services.moves) as a background job of the panel server (glue.panel.background), its
lines as the job's progress; `--finish` once DNS has moved. The catalog's switch is committed
with the acting admin as its author, like every panel change."""

from __future__ import annotations

import json
from typing import Any

from glue.catalog import account_path
from glue.errors import BubbleError
from glue.locks import catalog_lock
from glue.models import ServerRole
from glue.panel import background
from glue.panel.audit import commit_catalog
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.placement import server_loads
from glue.services import moves
from glue.services.context import Context
from glue.state.moves import open_move


def targets(ctx: Context, name: str) -> list[str]:
    """The servers the move service would take the account to now (its own check)."""
    catalog = ctx.catalog()
    loads = server_loads(catalog, ctx.today)  # once: each is a pass over every account
    found = []
    for server, spec in sorted(catalog.servers.items()):
        if spec.role is not ServerRole.WEB:
            continue
        try:
            moves.check_target(ctx, catalog, name, server, loads)
        except BubbleError:
            continue
        found.append(server)
    return found


def state(ctx: Context, name: str) -> dict[str, Any] | None:
    """The account's open move (its target and phase), if any."""
    move = open_move(ctx.engine, name)
    if move is None:
        return None
    return {"from": move.source, "to": move.target, "phase": move.phase,
            "downtime_ms": move.downtime_ms}  # fmt: skip


def start(found: Panel, who: Principal, name: str, to: str | None, finish: bool) -> int:
    """Move `name` to `to` (or resume its move), or with `finish` remove it from the old
    server; the service's own refusals end the job with their line."""
    ctx = found.context()
    if finish == bool(to):
        raise BubbleError("give a server to move to, or finish the switched move")

    def work(job_id: int) -> tuple[str, str, str]:
        said: list[str] = []

        def report(line: str) -> None:
            said.append(line)
            background.progress(ctx.engine, job_id, {"move": {"lines": said[-20:]}})

        if finish:
            result = moves.finish_move(ctx, name, report)
        else:
            assert to is not None
            result = moves.move_account(ctx, name, to, report)
            with catalog_lock(ctx.root):
                commit_catalog(ctx.root, who, f"panel: account {name} moved to {to}",
                               [account_path(ctx.root, name)])  # fmt: skip
        return "done", "", json.dumps({**result, "lines": said})

    return background.start(ctx.engine, who.name, name, "move", work)


def latest(found: Panel, name: str) -> dict[str, Any] | None:
    return next(iter(background.rows(found.ctx.engine, name, "move", limit=1)), None)
