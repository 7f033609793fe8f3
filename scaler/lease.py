"""Only one scaler acts at a time: a lease row in the state DB (table `scaler_lease`). The
monitor holds a lease of its own the same way (`name="monitor"`).

The holder renews it every tick; another scaler takes it only once it has expired (its holder
died or hangs). Taking and renewing is one conditional UPDATE (`WHERE expires_at < now OR
holder = me`), atomic on SQLite and PostgreSQL alike; the very first take is an INSERT that
the primary key lets only one scaler win.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from glue.state.schema import scaler_lease

NAME = "scaler"


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: dt.datetime
    last_tick: dt.datetime | None


def take(
    engine: Engine, holder: str, now: dt.datetime, ttl: dt.timedelta, name: str = NAME
) -> bool:
    """Take or renew the lease until `now + ttl`; False while another holder's is in force."""
    expires = now + ttl
    renew = (
        update(scaler_lease)
        .where(scaler_lease.c.name == name)
        .where(or_(scaler_lease.c.expires_at < now, scaler_lease.c.holder == holder))
        .values(holder=holder, expires_at=expires)
    )
    with engine.begin() as connection:
        if connection.execute(renew).rowcount == 1:
            return True
    try:
        with engine.begin() as connection:
            connection.execute(
                scaler_lease.insert().values(name=name, holder=holder, expires_at=expires)
            )
    except IntegrityError:  # the row exists: another holder's lease is in force
        return False
    return True


def release(engine: Engine, holder: str, now: dt.datetime, name: str = NAME) -> None:
    """Let the next scaler take over at once (a clean stop); only our own lease."""
    _update_own(engine, holder, name, expires_at=now)


def ticked(engine: Engine, holder: str, at: dt.datetime, name: str = NAME) -> None:
    """Record that `holder` finished a tick at `at` (for `bubble scaler status`)."""
    _update_own(engine, holder, name, last_tick=at)


def _update_own(engine: Engine, holder: str, name: str, **values: dt.datetime) -> None:
    own = (scaler_lease.c.name == name) & (scaler_lease.c.holder == holder)
    with engine.begin() as connection:
        connection.execute(update(scaler_lease).where(own).values(**values))


def current(engine: Engine, name: str = NAME) -> Lease | None:
    with engine.connect() as connection:
        row = connection.execute(select(scaler_lease).where(scaler_lease.c.name == name)).first()
    if row is None:
        return None
    return Lease(
        row.holder, _utc(row.expires_at), None if row.last_tick is None else _utc(row.last_tick)
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
