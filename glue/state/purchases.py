"""Upgrade purchases. The ledger entry (kind "upgrade", unique key) is the truth that a
purchase happened and was paid; the rows here, written in the same transaction, say what it
bought, so the catalog can always be brought in line with what was paid for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, insert, select

from glue.models import Upgrade
from glue.state.schema import upgrade_purchases as table


def record_purchase(
    connection: Connection, account: str, ledger_key: str, upgrades: Sequence[Upgrade]
) -> None:
    """In the transaction that posts the ledger entry `ledger_key`."""
    connection.execute(
        insert(table),
        [
            {
                "key": u.key,
                "ledger_key": ledger_key,
                "account": account,
                "resource": u.resource,
                "amount": u.amount,
                "expires": u.expires,
            }
            for u in upgrades
        ],
    )


def purchased(connection: Connection, ledger_key: str) -> list[Upgrade]:
    """What the purchase recorded under `ledger_key` bought."""
    rows = connection.execute(
        select(table).where(table.c.ledger_key == ledger_key).order_by(table.c.key)
    ).all()
    return [_upgrade(row) for row in rows]


def paid_upgrades(engine: Engine, account: str, today: dt.date) -> list[Upgrade]:
    """The account's paid upgrades still in force, oldest key first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(table)
            .where((table.c.account == account) & (table.c.expires > today))
            .order_by(table.c.key)
        ).all()
    return [_upgrade(row) for row in rows]


def _upgrade(row: object) -> Upgrade:
    return Upgrade(
        resource=row.resource,  # type: ignore[attr-defined]
        amount=row.amount,  # type: ignore[attr-defined]
        expires=row.expires,  # type: ignore[attr-defined]
        key=row.key,  # type: ignore[attr-defined]
    )
