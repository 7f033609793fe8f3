"""Elastic boosts: limits the scaler raised above base, per account and resource, as a
history of time ranges in the state DB (table `boosts`). A boost is opened and later closed,
never overwritten: the open one (`until` NULL) is in force, the closed ones say what was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, delete, or_, select, update

from glue.state.schema import boosts

Boosts = dict[str, dict[str, int]]  # account -> {resource: value in force}


@dataclass(frozen=True)
class Boost:
    account: str
    resource: str
    value: int
    since: dt.datetime
    until: dt.datetime | None  # None: in force now
    reason: str


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return None if moment is None else _since(moment)


def _since(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def boosts_at(engine: Engine, at: dt.datetime | None = None) -> Boosts:
    """The boosts in force at `at` (default: now, the open ones); one query for the fleet."""
    query = select(boosts.c.account, boosts.c.resource, boosts.c.value)
    if at is None:
        query = query.where(boosts.c.until.is_(None))
    else:
        still_open = or_(boosts.c.until.is_(None), boosts.c.until > at)
        query = query.where(boosts.c.since <= at, still_open)
    out: Boosts = {}
    with engine.connect() as connection:
        for row in connection.execute(query.order_by(boosts.c.since, boosts.c.id)):
            out.setdefault(row.account, {})[row.resource] = int(row.value)
    return out


def boost_history(engine: Engine, account: str) -> list[Boost]:
    """Every boost the account ever had, oldest first."""
    query = select(boosts).where(boosts.c.account == account).order_by(boosts.c.since, boosts.c.id)
    with engine.connect() as connection:
        return [
            Boost(
                row.account,
                row.resource,
                int(row.value),
                _since(row.since),
                _utc(row.until),
                row.reason,
            )
            for row in connection.execute(query)
        ]


def _open(account: str, resource: str | None = None) -> ColumnElement[bool]:
    where = (boosts.c.account == account) & boosts.c.until.is_(None)
    return where & (boosts.c.resource == resource) if resource is not None else where


def open_boost(
    engine: Engine, account: str, resource: str, value: int, at: dt.datetime, reason: str = ""
) -> None:
    """Put `value` in force for (account, resource) from `at`: the open boost is closed at
    `at` and a new one opened, in one transaction."""
    with engine.begin() as connection:
        connection.execute(update(boosts).where(_open(account, resource)).values(until=at))
        connection.execute(
            boosts.insert().values(
                account=account, resource=resource, value=value, since=at, reason=reason
            )
        )


def close_boosts(
    engine: Engine, account: str, at: dt.datetime | None = None, resource: str | None = None
) -> None:
    """Close the account's open boosts (or the one of `resource`) at `at` (default now): back
    to base; the history stays."""
    until = at or dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        connection.execute(update(boosts).where(_open(account, resource)).values(until=until))


@dataclass(frozen=True)
class Applied:
    """What `apply_levels` wrote, so `revert_levels` can take exactly that back."""

    opened: tuple[int, ...]
    closed: tuple[int, ...]


def apply_levels(
    engine: Engine, levels: Iterable[tuple[str, str, int | None, str]], at: dt.datetime
) -> Applied:
    """Put (account, resource, value or None for base, reason) in force from `at`, all in one
    transaction of three statements whatever their number: each open boost of the pairs is
    closed and, unless None, a new one opened (a pair given twice: the last one counts)."""
    wanted = {(account, resource): (value, reason) for account, resource, value, reason in levels}
    if not wanted:
        return Applied((), ())
    accounts = sorted({account for account, _ in wanted})
    with engine.begin() as connection:
        open_rows = connection.execute(
            select(boosts.c.id, boosts.c.account, boosts.c.resource).where(
                boosts.c.until.is_(None), boosts.c.account.in_(accounts)
            )
        ).all()
        closed = sorted(int(r.id) for r in open_rows if (r.account, r.resource) in wanted)
        if closed:
            connection.execute(update(boosts).where(boosts.c.id.in_(closed)).values(until=at))
        rows = [
            {"account": a, "resource": r, "value": v, "since": at, "reason": why}
            for (a, r), (v, why) in wanted.items()
            if v is not None
        ]
        opened = (
            connection.execute(boosts.insert().returning(boosts.c.id), rows).scalars().all()
            if rows
            else []
        )
    return Applied(tuple(int(i) for i in opened), tuple(closed))


def revert_levels(engine: Engine, applied: Applied) -> None:
    """Take back what `apply_levels` wrote (the change never reached the server): the rows it
    opened go, the ones it closed are open again, as if it never happened."""
    with engine.begin() as connection:
        if applied.opened:
            connection.execute(delete(boosts).where(boosts.c.id.in_(applied.opened)))
        if applied.closed:
            connection.execute(
                update(boosts).where(boosts.c.id.in_(applied.closed)).values(until=None)
            )
