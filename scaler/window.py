"""The fleet's recent samples, kept by the scaler between ticks, so that a tick reads from
InfluxDB only what is new.

Reading the whole window (the longest down-window, 15 minutes by default) of 10,000 accounts
takes InfluxDB 1.x about 20 s; the last few seconds of them take about 0.4 s. So a running
scaler reads the whole window once (its first tick, or when the plans' windows grow), and then
each tick reads from its last read, less an overlap for points that were written late.

A point later than the overlap leaves a hole in an account's samples, and a hole holds the
account (missing data never counts as low use). The window reads such accounts again, whole,
once a minute, until the hole is filled or has left the window: an agent that buffered its
points while InfluxDB or the network was away (scaler/agent_buffer.py) is heard in full.

Samples are kept per account in typed arrays (8 bytes a value, no Python object per value):
10,000 accounts with 15 minutes of 5-second samples hold about 115 MB.
"""

from __future__ import annotations

import logging
import operator
from array import array
from bisect import bisect_left, bisect_right
from itertools import pairwise
from typing import Any

from glue.models import Resource
from scaler.influx import InfluxClient, Table
from scaler.metrics import FIELDS, OOM_KILLS, Window, query
from scaler.usage import Event, Usage, same_limit

log = logging.getLogger("bubble.scaler")

# The agent's fields the scaler keeps, each as a column; MISSING where a sample lacks it.
_COLUMNS: tuple[tuple[str, int], ...] = (
    *((name, unit) for use, limit, unit in FIELDS.values() for name in (use, limit)),
    (OOM_KILLS, 1),
)
_KILLS = len(_COLUMNS) - 1  # the OOM kill counter's place in _COLUMNS
MISSING = -1
# A sample's events (one frozenset each, shared: a tick asks for 30,000 of them).
_NO_EVENTS: frozenset[Event] = frozenset()
_OOM_KILL: frozenset[Event] = frozenset({"oom_kill"})
_DISK_FULL: frozenset[Event] = frozenset({"disk_full"})
# How far back past its last read a tick reads again: points that reached InfluxDB after
# their time (the agent writes each sample just after reading it).
OVERLAP_INTERVALS = 1
# Samples further apart than this are a hole (the policy's Settings.max_gap_intervals).
HOLE_INTERVALS = 2
# Accounts with a hole are read again, whole, at most this often.
HEAL_EVERY_S = 60.0
# At most this many accounts per healing query (a statement InfluxDB parses quickly).
HEAL_BATCH = 500


class _Series:
    """One account's samples, oldest first, as columns."""

    __slots__ = ("arrays", "columns", "holed", "kills_flat", "times")

    def __init__(self) -> None:
        self.times = array("d")
        self.arrays = [array("q") for _ in _COLUMNS]  # in _COLUMNS' order
        self.columns = {
            name: column for (name, _), column in zip(_COLUMNS, self.arrays, strict=True)
        }
        self.holed = False  # some sample lacks a field (kept true until trimmed away)
        # Every OOM kill counter kept is the same (the fleet's usual case): a tick then
        # knows without scanning the column that no kill happened (kept exact by put and trim).
        self.kills_flat = True

    def put(self, at: float, values: list[int]) -> bool:
        """Add (or replace) the sample at `at` (`values` in _COLUMNS' order); True when it is
        the newest."""
        if MISSING in values:
            self.holed = True
        kills = self.arrays[_KILLS]
        if kills and values[_KILLS] != kills[0]:
            self.kills_flat = False
        times = self.times
        if not times or at > times[-1]:
            times.append(at)
            for column, value in zip(self.arrays, values, strict=True):
                column.append(value)
            return True
        i = bisect_left(times, at)
        if i < len(times) and times[i] == at:  # read again through the overlap
            for column, value in zip(self.arrays, values, strict=True):
                column[i] = value
            return False
        times.insert(i, at)  # a late point: it fills what was a hole
        for column, value in zip(self.arrays, values, strict=True):
            column.insert(i, value)
        return False

    def fill(self, rows: list[list[Any]], at_: int, where: list[tuple[int, int]]) -> None:
        """Put one account's rows of a whole read (`at_`: the time's place in a row; `where`:
        each column's place and unit). Into an empty series, in order (as InfluxDB sends
        them), they are converted and added column by column; else one by one."""
        times = [float(row[at_]) / 1000 for row in rows]
        if self.times or not all(map(operator.lt, times, times[1:])):
            for row, at in zip(rows, times, strict=True):
                self.put(
                    at, [MISSING if row[i] is None else int(row[i]) // unit for i, unit in where]
                )
            return
        columns = [[MISSING if row[i] is None else int(row[i]) // unit for row in rows]
                   for i, unit in where]  # fmt: skip
        if any(MISSING in column for column in columns):
            self.holed = True
        kills = columns[_KILLS]
        self.kills_flat = min(kills) == max(kills)
        self.times.extend(times)
        for column, values in zip(self.arrays, columns, strict=True):
            column.extend(values)

    def trim(self, start: float) -> None:
        """Forget the samples before `start`."""
        i = bisect_left(self.times, start)
        if i:
            del self.times[:i]
            for column in self.arrays:
                del column[:i]
            self.holed = self.holed and any(MISSING in c for c in self.arrays)
            if not self.kills_flat:
                kills = self.arrays[_KILLS]
                self.kills_flat = not kills or min(kills) == max(kills)

    def first_gap(self, max_gap_s: float) -> float | None:
        """Where the first hole longer than `max_gap_s` between two samples starts."""
        times = self.times
        return next((a for a, b in pairwise(times) if b - a > max_gap_s), None)


class UsageWindow:
    """The last `length_s` seconds of every account's samples, refreshed once per tick."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self._series: dict[str, _Series] = {}
        self._covers_from: float | None = None  # read completely from here...
        self._read_to: float | None = None  # ...to here
        self._holes: dict[str, float] = {}  # account -> where its first hole starts
        self._healed_at = 0.0  # the last read of the holed accounts (or the first read)

    def refresh(self, influx: InfluxClient, now: float, length_s: float) -> None:
        """Read what is new up to `now` and forget what is older than `length_s`. Raises
        what the InfluxDB client raises; the samples already kept stay as they were."""
        start = now - length_s
        covered = self._covers_from is not None and self._covers_from <= start
        if covered and self._read_to is not None:
            read_from = max(start, self._read_to - OVERLAP_INTERVALS * self.interval_s)
            self._take(influx.table(query(Window(now, now - read_from))), found_holes=True)
        else:  # first read, or a longer window than what was read: all of it
            self._series, self._holes = {}, {}
            self._take(influx.table(query(Window(now, length_s))), found_holes=False)
            self._covers_from, self._healed_at = start, now
        self._read_to = now
        for series in self._series.values():
            series.trim(start)
        self._series = {name: s for name, s in self._series.items() if s.times}
        self._holes = {name: at for name, at in self._holes.items() if at >= start}
        if self._holes and now - self._healed_at >= HEAL_EVERY_S:
            self._heal(influx, now, length_s)

    def usage(
        self,
        account: str,
        resource: Resource,
        now: float,
        current: int,
        events_since: float,
    ) -> Usage:
        """The account's Usage of `resource`, with `current` the limit in force now; an OOM
        kill after `events_since` (the last tick) or a disk full now are its events."""
        series = self._series.get(account)
        if series is None:
            return Usage(account, resource, now, current, interval_s=self.interval_s)
        use_field, limit_field, _ = FIELDS[resource]
        end = bisect_right(series.times, now)
        times, uses = series.times[:end], series.columns[use_field][:end]
        limits = series.columns[limit_field][:end]
        if series.holed and (MISSING in uses or MISSING in limits):
            # Not read in some sample: a hole, never a zero.
            kept = [i for i in range(end) if uses[i] != MISSING and limits[i] != MISSING]
            times = array("d", (times[i] for i in kept))
            uses, limits = (
                array("q", (uses[i] for i in kept)),
                array("q", (limits[i] for i in kept)),
            )
        events = _NO_EVENTS
        if resource == "memory" and _oom_killed(series, events_since, end):
            events = _OOM_KILL
        if resource == "disk" and uses and same_limit(limits[-1], current) and uses[-1] >= current:
            events = _DISK_FULL
        return Usage(account, resource, now, current, times, uses, limits, events, self.interval_s)

    @property
    def _hole_s(self) -> float:
        """Samples further apart than this have a hole between them."""
        return HOLE_INTERVALS * self.interval_s

    def _take(self, table: Table, found_holes: bool) -> None:
        header, rows = table
        if not rows:
            return
        at_, account_ = header.index("time"), header.index("account")
        where = [(header.index(name), unit) for name, unit in _COLUMNS]
        if not found_holes:
            # A whole read (the first, a heal): each account's samples together, added column
            # by column (two million rows for 10,000 accounts).
            rows_of: dict[Any, list[list[Any]]] = {}
            for row in rows:
                rows_of.setdefault(row[account_], []).append(row)
            for key, mine in rows_of.items():
                account = str(key)
                series = self._series.get(account)
                if series is None:
                    series = self._series[account] = _Series()
                series.fill(mine, at_, where)
            return
        # What is new since the last read: a few rows per account, each put in its place.
        hole_s = self._hole_s
        for row in rows:
            account = str(row[account_])
            series = self._series.get(account)
            if series is None:
                series = self._series[account] = _Series()
            last = series.times[-1] if series.times else None
            at = float(row[at_]) / 1000
            values = [MISSING if row[i] is None else int(row[i]) // unit for i, unit in where]
            if series.put(at, values) and last is not None and at - last > hole_s:
                self._holes.setdefault(account, last)

    def _heal(self, influx: InfluxClient, now: float, length_s: float) -> None:
        """Read the accounts with a hole again, whole; keep those still holed for later."""
        self._healed_at = now
        names = sorted(self._holes)[:HEAL_BATCH]
        rows = influx.table(query(Window(now, length_s), names))
        for name in names:
            self._series.pop(name, None)
            del self._holes[name]
        self._take(rows, found_holes=False)
        for name in names:
            series = self._series.get(name)
            hole = series.first_gap(self._hole_s) if series is not None else None
            if hole is not None:
                self._holes[name] = hole
        log.info("usage: %d accounts with a hole read again", len(names))


def _oom_killed(series: _Series, since: float, end: int) -> bool:
    """The OOM kill counter rose after `since` (the samples up to `end`)."""
    kills = series.arrays[_KILLS]
    if not end or series.kills_flat or min(kills[:end]) == max(kills[:end]):  # never moved
        return False
    split = bisect_right(series.times, since, 0, end)
    after = max(kills[split:end], default=MISSING)
    before = next((n for n in reversed(kills[:split]) if n != MISSING), MISSING)
    return MISSING not in (before, after) and after > before
