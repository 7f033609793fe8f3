"""Wallets: admins credit virtual currency; the ledger is the only place money lives."""

from __future__ import annotations

import uuid
from typing import Any

from glue.errors import BubbleError
from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.ledger import Entry
from glue.units import format_money, parse_money_cents


def credit(ctx: Context, name: str, amount: str, note: str = "", key: str | None = None) -> Entry:
    require_account(ctx.catalog(), name)
    cents = parse_money_cents(amount)
    if cents == 0:
        raise BubbleError(f"amount {amount!r} must be more than 0.00")
    with ctx.ledger.transaction() as connection:
        return ctx.ledger.post(
            connection, name, cents, "credit", key or f"credit:{name}:{uuid.uuid4()}", note
        )


def wallet(ctx: Context, name: str) -> dict[str, Any]:
    require_account(ctx.catalog(), name)
    entries = ctx.ledger.entries(name)
    return {
        "account": name,
        "balance": format_money(ctx.ledger.balance(name)),
        "entries": [
            {
                "amount": format_money(e.amount_cents),
                "kind": e.kind,
                "key": e.key,
                "note": e.note,
                "at": e.at.isoformat(),
                "balance_after": format_money(e.balance_after_cents),
            }
            for e in entries
        ],
    }
