"""Limits the scaler holds in force above base, per account and resource."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, select

from glue.state.schema import limits_in_force


def boosts_by_account(engine: Engine) -> dict[str, dict[str, int]]:
    """account -> {resource: value in force}; one query for the whole fleet (rendering)."""
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for row in connection.execute(select(limits_in_force)):
            out.setdefault(row.account, {})[row.resource] = int(row.value)
    return out


def set_boost(engine: Engine, account: str, resource: str, value: int, at: dt.datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(limits_in_force).where(
                (limits_in_force.c.account == account) & (limits_in_force.c.resource == resource)
            )
        )
        connection.execute(
            limits_in_force.insert().values(
                account=account, resource=resource, value=value, since=at
            )
        )


def clear_boosts(engine: Engine, account: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(limits_in_force).where(limits_in_force.c.account == account))
