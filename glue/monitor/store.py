"""Alert state in the state DB: the open alerts the monitor evaluates, each server group's
last notice, silences. Times are epoch seconds in glue.monitor.evaluate, UTC datetimes here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from glue.monitor.evaluate import Alert, Key, Silence
from glue.state.ledger import as_utc
from glue.state.schema import alert_groups, alert_silences, alerts

_TIMES = ("active_since", "since", "clear_since", "resolved_at", "notified_at")
OPEN = ("pending", "firing", "resolved")


def _moment(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _seconds(moment: dt.datetime | None) -> float | None:
    return None if moment is None else as_utc(moment).timestamp()


def _row(alert: Alert) -> dict[str, Any]:
    row = {f.name: getattr(alert, f.name) for f in fields(Alert)}
    for name in _TIMES:
        row[name] = _moment(row[name])
    return row


def _alert(row: Any) -> Alert:
    values = {f.name: getattr(row, f.name) for f in fields(Alert)}
    for name in _TIMES:
        values[name] = _seconds(values[name])
    return Alert(**values)


def open_alerts(engine: Engine) -> dict[Key, tuple[int, Alert]]:
    """(row id, alert) of every open alert."""
    with engine.connect() as db:
        rows = db.execute(select(alerts).where(alerts.c.state.in_(OPEN))).all()
    out: dict[Key, tuple[int, Alert]] = {}
    for row in rows:
        alert = _alert(row)
        out[alert.key] = (row.id, alert)
    return out


_COLUMNS = [f.name for f in fields(Alert)]
_UPDATE = (
    update(alerts)
    .where(alerts.c.id == bindparam("row_id"))
    .values({name: bindparam(f"v_{name}") for name in _COLUMNS})
)


def save(
    engine: Engine,
    before: Mapping[Key, tuple[int, Alert]],
    after: Mapping[Key, Alert],
    groups: Mapping[str, float] | None = None,
) -> dict[Key, tuple[int, Alert]]:
    """Write what changed from `before` to `after` in one transaction (each kind of change
    one batched statement): new alerts inserted, changed ones updated, pending ones that were
    forgotten deleted; `groups`' times too. Returns the open alerts as now stored."""
    gone: list[int] = []
    changed: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    for key, (row_id, old) in before.items():
        now = after.get(key)
        if now is None:
            gone.append(row_id)
        elif not _same_episode(now, old):  # a new episode of the same key
            changed.append(_bound(row_id, replace(old, state="closed")))
    for key, alert in after.items():
        known = before.get(key)
        if known is not None and _same_episode(known[1], alert):
            if known[1] != alert:
                changed.append(_bound(known[0], alert))
        else:
            new.append(_row(alert))
    if not (gone or changed or new or groups):
        return {k: (before[k][0], a) for k, a in after.items() if a.state != "closed"}
    with engine.begin() as db:
        if gone:
            db.execute(delete(alerts).where(alerts.c.id.in_(gone)))
        if changed:
            db.execute(_UPDATE, changed)
        if new:
            db.execute(insert(alerts), new)
        for server, last in (groups or {}).items():
            moment = _moment(last)
            done = db.execute(
                update(alert_groups).where(alert_groups.c.server == server).values(last_sent=moment)
            )
            if not done.rowcount:
                db.execute(insert(alert_groups).values(server=server, last_sent=moment))
    if not new:
        return {
            key: (known[0] if (known := before.get(key)) else 0, alert)
            for key, alert in after.items()
            if alert.state != "closed" and key in before
        }
    return open_alerts(engine)


def _same_episode(a: Alert, b: Alert) -> bool:
    """The same start, as the DB keeps it (to the microsecond): an alert fresh from `step`
    carries the tick's float, the stored one that float read back."""
    return _moment(a.active_since) == _moment(b.active_since)


def _bound(row_id: int, alert: Alert) -> dict[str, Any]:
    return {"row_id": row_id, **{f"v_{name}": value for name, value in _row(alert).items()}}


def group_times(engine: Engine) -> dict[str, float]:
    with engine.connect() as db:
        rows = db.execute(select(alert_groups)).all()
    return {row.server: as_utc(row.last_sent).timestamp() for row in rows}


def history(engine: Engine, limit: int = 100) -> list[Alert]:
    """The alerts that fired, newest first."""
    query = select(alerts).where(alerts.c.since.is_not(None))
    with engine.connect() as db:
        rows = db.execute(query.order_by(alerts.c.since.desc(), alerts.c.id.desc()).limit(limit))
        return [_alert(row) for row in rows]


def add_silence(engine: Engine, matcher: str, until: float, reason: str, now: float) -> None:
    with engine.begin() as db:
        db.execute(
            insert(alert_silences).values(
                matcher=matcher, until=_moment(until), reason=reason, created_at=_moment(now)
            )
        )


def silences(engine: Engine, now: float) -> list[Silence]:
    """The silences in force at `now`."""
    with engine.connect() as db:
        rows = db.execute(select(alert_silences).where(alert_silences.c.until > _moment(now)))
        return [Silence(row.matcher, as_utc(row.until).timestamp(), row.reason) for row in rows]
