"""What the scaler did to an account and what it cost: one time line from the state DB."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.ledger import as_utc
from glue.state.schema import ledger_entries, scaler_events
from glue.units import format_money

# The scaler's records that are history (a hold is the steady state, never recorded).
CHANGES = ("raise", "lower", "deferred")


def account_history(ctx: Context, name: str) -> list[dict[str, Any]]:
    """Every limit change (raise, lower) and deferral the scaler recorded and every charge
    from the wallet, oldest first, each with `at` (ISO 8601, UTC) and `kind`; at the same
    moment a change comes before the charge (billing runs in the tick that follows)."""
    require_account(ctx.catalog(), name, leaving_ok=True)
    timeline: list[tuple[dt.datetime, int, int, dict[str, Any]]] = []
    with ctx.engine.connect() as connection:
        changes = connection.execute(
            select(scaler_events)
            .where(scaler_events.c.account == name, scaler_events.c.kind.in_(CHANGES))
            .order_by(scaler_events.c.id)
        ).all()
        charges = connection.execute(
            select(ledger_entries)
            .where(ledger_entries.c.account == name, ledger_entries.c.kind == "charge")
            .order_by(ledger_entries.c.id)
        ).all()
    for row in changes:
        at = as_utc(row.at)
        timeline.append((at, 0, row.id, {
            "at": at.isoformat(), "kind": row.kind, "resource": row.resource,
            "from": int(row.from_value), "to": int(row.to_value), "reason": row.reason,
        }))  # fmt: skip
    for row in charges:
        at = as_utc(row.at)
        timeline.append((at, 1, row.id, {
            "at": at.isoformat(), "kind": "charge", "amount": format_money(-row.amount_cents),
            "amount_cents": -int(row.amount_cents), "key": row.key, "note": row.note,
        }))  # fmt: skip
    return [entry for *_, entry in sorted(timeline, key=lambda t: t[:3])]
