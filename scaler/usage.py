"""What the scaler decides from: one account's recent usage of one resource, as plain data.

The metrics query fills these from InfluxDB; the policy (scaler/policy.py) only reads them.
Units are the catalog's: cpu in MHz, memory and disk in MiB; times in seconds since the epoch.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from glue.models import Resource

# Events seen since the last tick that raise at once, without waiting for a window.
Event = Literal["oom_kill", "disk_full"]


@dataclass(frozen=True)
class Sample:
    at: float  # when the agent read it
    use: int
    limit: int  # the limit in force when it was read


@dataclass(frozen=True)
class Usage:
    """One account's samples of one resource, up to `now`, and the limit in force now."""

    account: str
    resource: Resource
    now: float
    current: int  # the limit in force now (state DB): what a change moves from
    samples: tuple[Sample, ...] = ()
    events: frozenset[Event] = field(default_factory=frozenset)
    interval_s: float = 5.0  # the agent's sampling interval
    _times: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Sorted once here: the policy asks for windows several times per decision, and a
        # tick decides for every account (10,000 of them: issue 10's benchmark).
        ordered = tuple(sorted(self.samples, key=_at))
        object.__setattr__(self, "samples", ordered)
        object.__setattr__(self, "_times", tuple(s.at for s in ordered))

    def since(self, start: float) -> tuple[Sample, ...]:
        """The samples inside [start, now], oldest first."""
        return self.samples[bisect_left(self._times, start) : bisect_right(self._times, self.now)]

    def gap(self, start: float, max_gap_s: float) -> str | None:
        """Why [start, now] is not fully covered by samples (None when it is): a window with
        a hole longer than `max_gap_s`, at either end or between two samples, says nothing."""
        times = [start, *(s.at for s in self.since(start)), self.now]
        if len(times) == 2:
            return f"no samples in the last {_seconds(self.now - start)}"
        worst = max(b - a for a, b in pairwise(times))
        if worst > max_gap_s:
            return f"a gap of {_seconds(worst)} in the last {_seconds(self.now - start)}"
        return None


def _at(sample: Sample) -> float:
    return sample.at


def _seconds(value: float) -> str:
    return f"{value:g} s"
