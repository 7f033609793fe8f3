"""What the scaler decides from: one account's recent usage of one resource, as plain data.

The usage window (scaler/window.py) fills these from InfluxDB; the policy (scaler/policy.py)
only reads them. Units are the catalog's: cpu in MHz, memory and disk in MiB; times in seconds
since the epoch. The samples are kept as three columns, oldest first, because a tick decides
for every account of the fleet (10,000 of them: issue 10's benchmark): windows are slices
found by bisection, and their minimum, maximum and widest gap are computed in C.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from glue.models import Resource

# Events seen since the last tick that raise at once, without waiting for a window.
Event = Literal["oom_kill", "disk_full"]
# The agent reports the limit the kernel holds, rounded its own way (CPUQuota in whole
# percent of a core, pages): within this share of the limit in force it IS that limit.
SAME_LIMIT_PERCENT = 2


@dataclass(frozen=True)
class Sample:
    at: float  # when the agent read it
    use: int
    limit: int  # the limit in force when it was read


@dataclass(frozen=True)
class Usage:
    """One account's samples of one resource, up to `now`, and the limit in force now.
    `times`, `uses` and `limits` are the samples' columns, oldest first."""

    account: str
    resource: Resource
    now: float
    current: int  # the limit in force now (state DB): what a change moves from
    times: Sequence[float] = ()
    uses: Sequence[int] = ()
    limits: Sequence[int] = ()  # the limit in force when each sample was read
    events: frozenset[Event] = field(default_factory=frozenset)
    interval_s: float = 5.0  # the agent's sampling interval

    @classmethod
    def of(
        cls,
        account: str,
        resource: Resource,
        now: float,
        current: int,
        samples: Iterable[Sample] = (),
        events: frozenset[Event] = frozenset(),
        interval_s: float = 5.0,
    ) -> Usage:
        """From samples in any order."""
        ordered = sorted(samples, key=_at)
        return cls(
            account,
            resource,
            now,
            current,
            tuple(s.at for s in ordered),
            tuple(s.use for s in ordered),
            tuple(s.limit for s in ordered),
            events,
            interval_s,
        )

    @property
    def samples(self) -> tuple[Sample, ...]:
        return tuple(map(Sample, self.times, self.uses, self.limits))

    def span(self, start: float) -> slice:
        """Where the samples inside [start, now] are in the columns."""
        return slice(bisect_left(self.times, start), bisect_right(self.times, self.now))

    def last_use(self) -> int | None:
        """The use of the last sample at or before `now` (None: no sample)."""
        end = bisect_right(self.times, self.now)
        return self.uses[end - 1] if end else None

    def last_other_limit(self, span: slice) -> int | None:
        """The index of the last sample in `span` read under a limit other than the one in
        force now (None: all of them were read under it)."""
        limits, cur = self.limits[span], self.current
        if not limits or (same_limit(min(limits), cur) and same_limit(max(limits), cur)):
            return None  # the tolerance is a range: its two ends decide for all (in C)
        indices = range(span.start, span.start + len(limits))
        return next(i for i in reversed(indices) if not same_limit(self.limits[i], cur))

    def gap(self, start: float, max_gap_s: float) -> str | None:
        """Why [start, now] is not fully covered by samples (None when it is): a window with
        a hole longer than `max_gap_s`, at either end or between two samples, says nothing."""
        span = self.span(start)
        times = self.times[span]
        if not times:
            return f"no samples in the last {_seconds(self.now - start)}"
        worst = max(times[0] - start, self.now - times[-1])
        if len(times) > 1:
            worst = max(worst, max(map(operator.sub, times[1:], times[:-1])))
        if worst > max_gap_s:
            return f"a gap of {_seconds(worst)} in the last {_seconds(self.now - start)}"
        return None


def same_limit(reported: int, current: int) -> bool:
    """A limit the agent reported is the one in force within its rounding."""
    return abs(reported - current) * 100 <= current * SAME_LIMIT_PERCENT


def _at(sample: Sample) -> float:
    return sample.at


def _seconds(value: float) -> str:
    return f"{value:g} s"
