"""Limits the scaler holds in force above base, per account and resource: the open boosts
(`until` NULL) of the `boosts` history."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Engine, select, update

from glue.state.schema import boosts


def boosts_by_account(engine: Engine) -> dict[str, dict[str, int]]:
    """account -> {resource: value in force}; one query for the whole fleet (rendering)."""
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for row in connection.execute(select(boosts).where(boosts.c.until.is_(None))):
            out.setdefault(row.account, {})[row.resource] = int(row.value)
    return out


def _open(account: str, resource: str | None = None) -> ColumnElement[bool]:
    where = (boosts.c.account == account) & boosts.c.until.is_(None)
    return where & (boosts.c.resource == resource) if resource is not None else where


def set_boost(engine: Engine, account: str, resource: str, value: int, at: dt.datetime) -> None:
    """Close the open boost of (account, resource) at `at` and open one at `value`."""
    with engine.begin() as connection:
        connection.execute(update(boosts).where(_open(account, resource)).values(until=at))
        connection.execute(
            boosts.insert().values(account=account, resource=resource, value=value, since=at)
        )


def clear_boosts(engine: Engine, account: str) -> None:
    """Close every open boost of `account` (now): its history stays."""
    with engine.begin() as connection:
        connection.execute(
            update(boosts).where(_open(account)).values(until=dt.datetime.now(dt.UTC))
        )
