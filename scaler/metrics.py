"""The one reader of the agent's points: `query` is the InfluxQL statement for a time window
of the whole fleet or of some accounts. The scaler keeps its window of them between ticks
(scaler/window.py); narrowed to one account and with the fault counters, it is what `bubble
account usage` shows (`samples`). Field names are the agent's (agent.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from glue.models import ACCOUNT_NAME_RE, Resource
from scaler.influx import InfluxClient

MIB = 1024 * 1024
# (use field, limit field, divisor to the catalog's unit) per resource.
FIELDS: dict[Resource, tuple[str, str, int]] = {
    "cpu": ("cpu_mhz", "cpu_limit_mhz", 1),
    "memory": ("mem_bytes", "mem_max_bytes", MIB),
    "disk": ("disk_bytes", "disk_max_bytes", MIB),
}
# What the graphs draw besides: the tasks against TasksMax (the scaler never moves it).
GRAPHED: dict[str, tuple[str, str, int]] = {
    **{str(resource): fields for resource, fields in FIELDS.items()},
    "processes": ("tasks", "tasks_max", 1),
}
OOM_KILLS = "mem_oom_kills"
# The agent's cumulative fault counters shown per sample as what happened since the one before
# (shown name -> field): CPU periods throttled at the quota, memory at its max, OOM kills.
EVENTS: dict[str, str] = {
    "cpu_throttled": "cpu_throttled_periods",
    "memory_max_hit": "mem_max_events",
    "oom_kills": OOM_KILLS,
}


@dataclass(frozen=True)
class Window:
    now: float  # seconds since the epoch
    length_s: float  # how far back to read


def query(window: Window, accounts: Sequence[str] = (), extra: Sequence[str] = ()) -> str:
    """The one statement: every field the scaler reads (and the `extra` ones), of the whole
    fleet or of the `accounts` named. The account is read as a column, not grouped by: for
    InfluxDB 1.x that is twice as fast over 10,000 series."""
    names = {name for use, limit, _ in FIELDS.values() for name in (use, limit)}
    columns = ", ".join(f'"{name}"' for name in sorted(names | set(extra) | {OOM_KILLS}))
    start_ms, end_ms = int((window.now - window.length_s) * 1000), int(window.now * 1000)
    for account in accounts:
        if not ACCOUNT_NAME_RE.fullmatch(account):  # a checked name, never raw text
            raise ValueError(f"{account!r} is not a valid account name")
    only = f""" AND "account" =~ /^({"|".join(accounts)})$/""" if accounts else ""
    # Only numbers, our field names and checked account names go into the text.
    return (
        f'SELECT "account", {columns} FROM "account" '  # noqa: S608
        f"WHERE time >= {start_ms}ms AND time <= {end_ms}ms{only}"
    )


def read_rows(
    influx: InfluxClient, window: Window, accounts: Sequence[str] = (), extra: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """account -> its rows in the window, oldest first (one `query`)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in influx.query(query(window, accounts, extra)):
        rows.setdefault(str(row.get("account", "")), []).append(row)
    for mine in rows.values():
        mine.sort(key=lambda r: float(r["time"]))
    return rows


def _in_units(value: Any, unit: int) -> int | None:
    return None if value is None else int(value) // unit


def latest(influx: InfluxClient, window: Window, accounts: Sequence[str]) -> dict[str, Any]:
    """Each named account's newest sample in the window (one `query`): per `GRAPHED`
    resource its use in the catalog's units (None where not read); no sample: left out."""
    if not accounts:
        return {}
    rows = read_rows(influx, window, accounts, ("tasks", "tasks_max"))
    return {
        account: {r: _in_units(mine[-1].get(use), unit) for r, (use, _, unit) in GRAPHED.items()}
        for account, mine in rows.items()
    }


def samples(influx: InfluxClient, account: str, window: Window) -> list[dict[str, Any]]:
    """One account's samples as people read them: `at` (ISO 8601, UTC), per resource its use
    and the limit the kernel held (the catalog's units; None where not read), and `events`:
    each fault counter the agent reported, as its rise since the sample before."""
    out: list[dict[str, Any]] = []
    before: dict[str, int] = {}
    for row in read_rows(influx, window, [account], tuple(EVENTS.values())).get(account, []):
        at = dt.datetime.fromtimestamp(float(row["time"]) / 1000, dt.UTC)
        sample: dict[str, Any] = {"at": at.isoformat()}
        for resource, (use_field, limit_field, unit) in FIELDS.items():
            use, limit = row.get(use_field), row.get(limit_field)
            sample[resource] = {"use": _in_units(use, unit), "limit": _in_units(limit, unit)}
        events: dict[str, int] = {}
        for name, field in EVENTS.items():
            if row.get(field) is None:
                continue
            count, last = int(row[field]), before.get(name)
            # The first sample has nothing to rise from; a counter that went back was made
            # again with its slice, so all of it is new.
            events[name] = 0 if last is None else count - last if count >= last else count
            before[name] = count
        sample["events"] = events
        out.append(sample)
    return out


def peaks(influx: InfluxClient, account: str, window: Window, step_s: int) -> list[dict[str, Any]]:
    """One account's highest use and limit per `step_s` seconds of the window (InfluxDB
    groups them: a 30-day graph reads a few hundred rows, not every sample), oldest first:
    `t` (the interval's start, epoch seconds) and per `GRAPHED` resource {"use", "limit"} in
    the catalog's units (None where not read). Empty intervals are left out."""
    if not ACCOUNT_NAME_RE.fullmatch(account):  # a checked name, never raw text
        raise ValueError(f"{account!r} is not a valid account name")
    names = sorted({name for use, limit, _ in GRAPHED.values() for name in (use, limit)})
    columns = ", ".join(f'max("{name}") AS "{name}"' for name in names)
    start_ms, end_ms = int((window.now - window.length_s) * 1000), int(window.now * 1000)
    # Only numbers, our field names and a checked account name go into the text.
    statement = (
        f'SELECT {columns} FROM "account" WHERE time >= {start_ms}ms '  # noqa: S608
        f"AND time <= {end_ms}ms AND \"account\" = '{account}' "
        f"GROUP BY time({max(1, int(step_s))}s) fill(none)"
    )
    out = []
    for row in sorted(influx.query(statement), key=lambda r: float(r["time"])):
        point: dict[str, Any] = {"t": float(row["time"]) / 1000}
        for resource, (use_field, limit_field, unit) in GRAPHED.items():
            use, limit = row.get(use_field), row.get(limit_field)
            point[resource] = {"use": _in_units(use, unit), "limit": _in_units(limit, unit)}
        out.append(point)
    return out
