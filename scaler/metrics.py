"""The scaler's view of usage: the last window of every account's samples, from InfluxDB in
ONE InfluxQL query per tick for the fleet (GROUP BY account), as `Usage` objects. The same
query, narrowed to one account and with the fault counters, is what `bubble account usage`
shows (`samples`): one reader of the agent's points.

An account InfluxDB says nothing about gets a `Usage` without samples: the policy holds it
(missing or stale data never counts as low use). Field names are the agent's (agent.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glue.models import ACCOUNT_NAME_RE, Resource
from scaler.influx import InfluxClient
from scaler.usage import Event, Sample, Usage

MIB = 1024 * 1024
# (use field, limit field, divisor to the catalog's unit) per resource.
FIELDS: dict[Resource, tuple[str, str, int]] = {
    "cpu": ("cpu_mhz", "cpu_limit_mhz", 1),
    "memory": ("mem_bytes", "mem_max_bytes", MIB),
    "disk": ("disk_bytes", "disk_max_bytes", MIB),
}
OOM_KILLS = "mem_oom_kills"
# The agent's cumulative fault counters shown per sample as what happened since the one before
# (shown name -> field): CPU periods throttled at the quota, memory at its max, OOM kills.
EVENTS: dict[str, str] = {
    "cpu_throttled": "cpu_throttled_periods",
    "memory_max_hit": "mem_max_events",
    "oom_kills": OOM_KILLS,
}
# The agent reports the limit the kernel holds, rounded its own way (CPUQuota in whole
# percent of a core, pages): within this share of the limit in force it IS that limit.
SAME_LIMIT_PERCENT = 2


@dataclass(frozen=True)
class Window:
    now: float  # seconds since the epoch
    length_s: float  # how far back to read (the longest down-window)
    events_since: float  # an OOM kill after this (the last tick) raises at once
    interval_s: float = 5.0  # the agent's sampling interval


def query(window: Window, account: str | None = None, extra: Sequence[str] = ()) -> str:
    """The one statement: every field the scaler reads (and the `extra` ones), for the whole
    fleet or for one `account`."""
    names = {name for use, limit, _ in FIELDS.values() for name in (use, limit)}
    columns = ", ".join(
        f'"{name}"' for name in [*sorted(names | set(extra) - {OOM_KILLS}), OOM_KILLS]
    )
    start_ms, end_ms = int((window.now - window.length_s) * 1000), int(window.now * 1000)
    only = ""
    if account is not None:
        if not ACCOUNT_NAME_RE.fullmatch(account):  # a checked name, never raw text
            raise ValueError(f"{account!r} is not a valid account name")
        only = f""" AND "account" = '{account}'"""
    # Only numbers, our field names and a checked account name go into the text.
    return (
        f'SELECT {columns} FROM "account" '  # noqa: S608
        f'WHERE time >= {start_ms}ms AND time <= {end_ms}ms{only} GROUP BY "account"'
    )


def read_rows(
    influx: InfluxClient, window: Window, account: str | None = None, extra: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """account -> its rows in the window, oldest first (one `query`)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in influx.query(query(window, account, extra)):
        rows.setdefault(str(row.get("account", "")), []).append(row)
    for mine in rows.values():
        mine.sort(key=lambda r: float(r["time"]))
    return rows


def read_usage(
    influx: InfluxClient, window: Window, in_force: Mapping[str, Mapping[Resource, int]]
) -> dict[tuple[str, Resource], Usage]:
    """(account, resource) -> its Usage for every pair of `in_force` (account -> resource ->
    the limit in force now, from the state DB): what a change moves from."""
    rows = read_rows(influx, window)
    out: dict[tuple[str, Resource], Usage] = {}
    for account, limits in in_force.items():
        mine = rows.get(account, [])
        for resource, current in limits.items():
            samples = _samples(mine, resource, current)
            events = _events(mine, resource, current, samples, window.events_since)
            out[account, resource] = Usage(
                account, resource, window.now, current, samples, events, window.interval_s
            )
    return out


def samples(influx: InfluxClient, account: str, window: Window) -> list[dict[str, Any]]:
    """One account's samples as people read them: `at` (ISO 8601, UTC), per resource its use
    and the limit the kernel held (the catalog's units; None where not read), and `events`:
    each fault counter the agent reported, as its rise since the sample before."""
    out: list[dict[str, Any]] = []
    before: dict[str, int] = {}
    for row in read_rows(influx, window, account, tuple(EVENTS.values())).get(account, []):
        at = dt.datetime.fromtimestamp(float(row["time"]) / 1000, dt.UTC)
        sample: dict[str, Any] = {"at": at.isoformat()}
        for resource, (use_field, limit_field, unit) in FIELDS.items():
            use, limit = row.get(use_field), row.get(limit_field)
            sample[resource] = {
                "use": None if use is None else int(use) // unit,
                "limit": None if limit is None else int(limit) // unit,
            }
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


def _samples(rows: list[dict[str, Any]], resource: Resource, current: int) -> tuple[Sample, ...]:
    use_field, limit_field, unit = FIELDS[resource]
    samples: list[Sample] = []
    for row in rows:
        use, limit = row.get(use_field), row.get(limit_field)
        if use is None or limit is None:  # not read this tick: a hole, never a zero
            continue
        reported = int(limit) // unit
        same = abs(reported - current) * 100 <= current * SAME_LIMIT_PERCENT
        samples.append(
            Sample(float(row["time"]) / 1000, int(use) // unit, current if same else reported)
        )
    return tuple(samples)


def _events(
    rows: list[dict[str, Any]],
    resource: Resource,
    current: int,
    samples: tuple[Sample, ...],
    since: float,
) -> frozenset[Event]:
    """An OOM kill counted since the last tick; a disk full at the limit in force now."""
    events: set[Event] = set()
    if resource == "memory":
        kills = [
            (float(r["time"]) / 1000, int(r[OOM_KILLS]))
            for r in rows
            if r.get(OOM_KILLS) is not None
        ]
        before = [n for at, n in kills if at <= since]
        after = [n for at, n in kills if at > since]
        if before and after and max(after) > before[-1]:
            events.add("oom_kill")
    if resource == "disk" and samples:
        last = samples[-1]
        if last.limit == current and last.use >= current:
            events.add("disk_full")
    return frozenset(events)
