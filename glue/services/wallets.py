"""Wallets: admins credit virtual currency; the ledger is the only place money lives."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection

from glue.errors import BubbleError
from glue.models import Account, Limits, Plan
from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.ledger import Entry
from glue.units import format_money, parse_money_cents


def credit(
    ctx: Context, name: str, amount: str, note: str = "", key: str | None = None,
    within: Connection | None = None,
) -> Entry:  # fmt: skip
    """Credit `amount`; `within`: inside the caller's ledger transaction (a top-up's decision
    commits with its credit or not at all)."""
    require_account(ctx.catalog(), name)
    cents = parse_money_cents(amount)
    if cents == 0:
        raise BubbleError(f"amount {amount!r} must be more than 0.00")
    key = key or f"credit:{name}:{uuid.uuid4()}"
    if within is not None:
        return ctx.ledger.post(within, name, cents, "credit", key, note)
    with ctx.ledger.transaction() as connection:
        return ctx.ledger.post(connection, name, cents, "credit", key, note)


def burn(ctx: Context, name: str) -> Fraction:
    """Exact cents an hour the account's capacity in force above its base costs now, at
    billing's own tariff (`scaler.billing.burn_per_hour`)."""
    from glue.limits import limits_in_force
    from glue.state.boosts import boosts_at

    catalog = ctx.catalog()
    account = require_account(catalog, name, leaving_ok=True)
    in_force = limits_in_force(catalog, boosts_at(ctx.engine), ctx.today, [name])[name]
    return burn_of(name, catalog.plans[account.plan], account, in_force, ctx.today)


def burn_of(name: str, plan: Plan, account: Account, in_force: Limits, today: dt.date) -> Fraction:
    """`burn` for given limits in force under `plan` (also a plan change before it is made)."""
    from glue.limits import effective_base
    from scaler.billing import BillingError, Tariff, burn_per_hour

    tariff = Tariff(effective_base(plan, account, today), plan.elastic)
    try:
        return burn_per_hour(tariff, in_force)
    except BillingError as exc:
        raise BubbleError(f"burn rate of {name}: {exc}") from None


def _lasts(balance_cents: int, per_hour: Fraction, hours_per_unit: int) -> float | None:
    """How long the balance lasts at `per_hour`, in hours (1) or days (24), rounded down to
    a hundredth; None when nothing burns."""
    if per_hour == 0:
        return None
    units = Fraction(max(0, balance_cents)) / per_hour / hours_per_unit
    return math.floor(units * 100) / 100


def wallet(ctx: Context, name: str) -> dict[str, Any]:
    require_account(ctx.catalog(), name)
    entries = ctx.ledger.entries(name)
    balance, per_hour = ctx.ledger.balance(name), burn(ctx, name)
    return {
        "account": name,
        "balance": format_money(balance),
        # Whole cents, a part cent rounded up; `lasts_*` come from the exact rate.
        "burn_cents_per_hour": math.ceil(per_hour),
        "burn_per_hour": format_money(math.ceil(per_hour)),
        "lasts_hours": _lasts(balance, per_hour, 1),
        "lasts_days": _lasts(balance, per_hour, 24),
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
