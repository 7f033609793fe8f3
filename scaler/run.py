"""`bubble scaler run` and `bubble scaler status`: the loop around `tick`, under the lease.

Every interval: take or renew the lease; holding it, one tick; not holding it, wait (another
scaler acts; when it dies its lease expires and this one takes over). The lease lasts three
intervals (at least 30 s), so a scaler that stalls that long loses it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import func, select

from glue.errors import BubbleError
from glue.services.context import Context
from glue.services.converge import ConvergeResult, Operation, converge
from glue.state.schema import boosts, scaler_events
from scaler import lease
from scaler.influx import InfluxClient
from scaler.loop import Actuate, TickResult, new_day, repair, tick
from scaler.window import UsageWindow

log = logging.getLogger("bubble.scaler")
Clock = Callable[[], dt.datetime]


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_ttl(interval_s: float) -> dt.timedelta:
    return dt.timedelta(seconds=max(30.0, 3 * interval_s))


def limits_push(ctx: Context) -> Actuate:
    """The real actuator: the limits of one server, live, never waiting for its lock."""

    def actuate(server: str) -> ConvergeResult:
        return converge(
            ctx, ctx.catalog(), Operation.LIMITS, log.info, servers=[server], wait=False
        )

    return actuate


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(
    ctx: Context,
    influx: InfluxClient,
    actuate: Actuate,
    *,
    interval_s: float = 5.0,
    once: bool = False,
    holder: str | None = None,
    clock: Clock = _now,
    sleep: Callable[[float], None] = time.sleep,
) -> TickResult | None:
    """Tick every `interval_s` while holding the lease; `once`: one tick, or an error naming
    the scaler that holds the lease. Returns the last tick's result."""
    me = holder or holder_id()
    ttl, engine = lease_ttl(interval_s), ctx.engine
    # Kept between ticks, so each reads only the new points. Its interval is the agents'
    # (the usage_agent role's default), not the tick's.
    window = UsageWindow()
    last: TickResult | None = None
    waiting, holding = False, False
    day: dt.date | None = None  # the day of the last tick this scaler made
    try:
        while True:
            started, now = time.monotonic(), clock()
            if lease.take(engine, me, now, ttl):
                if waiting:
                    log.info("took the lease: this scaler acts now")
                if not holding:  # the last holder may have died mid-change: servers match DB
                    _repair(partial(repair, ctx, actuate))
                elif day is not None and now.date() != day:  # upgrades end at midnight
                    _repair(partial(new_day, ctx, actuate, day, now.date()))
                day = now.date()
                waiting, holding = False, True
                held = lease.current(engine)
                try:
                    last = tick(
                        ctx,
                        influx,
                        now,
                        actuate,
                        last_tick=held.last_tick if held else None,
                        window=window,
                    )
                except Exception:  # a bad tick (catalog being edited, DB away): try the next
                    log.exception("tick failed")
                else:
                    lease.ticked(engine, me, now)
            elif once:
                held = lease.current(engine)
                who = held.holder if held else "another scaler"
                raise BubbleError(f"the scaler lease is held by {who}: it acts, not this one")
            else:
                holding = False
                if not waiting:
                    waiting = True
                    log.info("another scaler holds the lease: waiting to take over")
            if once:
                return last
            # Ticks start every interval, not an interval after the last one ended: a tick
            # that converged a server (seconds) does not push the next decision back by as much.
            sleep(max(0.0, interval_s - (time.monotonic() - started)))
    finally:
        lease.release(engine, me, clock())


def _repair(push: Callable[[], object]) -> None:
    try:
        push()
    except Exception:  # a catalog being edited, the DB away: the ticks go on regardless
        log.exception("limits re-push failed")


def status(ctx: Context, now: dt.datetime | None = None) -> dict[str, Any]:
    """Who holds the lease, the last tick, open boosts and the last hour's decisions."""
    now = now or _now()
    engine = ctx.engine
    held = lease.current(engine)
    with engine.connect() as connection:
        boosted = connection.execute(
            select(func.count()).select_from(boosts).where(boosts.c.until.is_(None))
        ).scalar_one()
        kinds: dict[str, int] = dict(
            connection.execute(
                select(scaler_events.c.kind, func.count())
                .where(scaler_events.c.at >= now - dt.timedelta(hours=1))
                .group_by(scaler_events.c.kind)
            ).all()
        )
    return {
        "holder": held.holder if held and held.expires_at > now else None,
        "lease_expires_at": held.expires_at if held else None,
        "last_tick": held.last_tick if held else None,
        "boosts_in_force": int(boosted),
        "last_hour": {kind: int(kinds.get(kind, 0)) for kind in ("raise", "lower", "deferred")},
    }
