"""The scaler's recommendation for one account and resource: raise, lower or hold (pure).

Rules (issue 10, item 3):
- up: use at or above `up_percent` of the limit in force, sustained for the up-window, raises
  one step: the hot run (the samples up to the latest, each hot, at the limit in force, no
  hole between them) must span the up-window from its first sample to its last. So a raise
  comes an up-window after the first hot sample (plus up to one sampling interval), whatever
  came before that sample. An OOM kill (memory) or a full disk raises at once;
- down: one step, only when every sample of the down-window sits at or below `down_percent`
  of the LOWER limit (hysteresis: what lowers can never raise again at the same use, and what
  just rose cannot come down); memory and disk never below the window's highest use plus a
  margin (held instead); base is the floor;
- a window not fully covered at the limit in force (missing or stale samples, or the limit
  changed inside it) says nothing: hold. A change therefore waits a full window before the next
  (the samples read at the new limit must span it).
Money, the ceiling, the server's room and elasticity on/off are the caps' (scaler/caps.py).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from glue.models import Plan, Resource
from scaler.usage import Usage, same_limit

UNITS: dict[Resource, str] = {"cpu": "MHz", "memory": "MiB", "disk": "MiB"}
# Resources whose limit must never be lowered under their use (the kernel kills or refuses).
_HARD: frozenset[Resource] = frozenset({"memory", "disk"})


@dataclass(frozen=True)
class Rule:
    """One resource's scaling rule for one account: the plan's, with the account's own base."""

    base: int
    step: int
    ceiling: int
    hourly_price: int  # cents per step in force above base, per hour
    up_percent: int = 90
    down_percent: int = 50
    up_after_s: int = 120
    down_after_s: int = 900

    @classmethod
    def of(cls, plan: Plan, resource: Resource, base: int) -> Rule | None:
        """The plan's rule for `resource` (None: the plan does not scale it)."""
        elastic = plan.elastic.get(resource)
        if elastic is None:
            return None
        t = plan.thresholds
        return cls(
            base=base,
            step=elastic.step,
            ceiling=elastic.ceiling,
            hourly_price=elastic.hourly_price,
            up_percent=t.up_percent,
            down_percent=t.down_percent,
            up_after_s=t.up_after_s,
            down_after_s=t.down_after_s,
        )


@dataclass(frozen=True)
class Settings:
    margin_percent: int = 10  # memory and disk stay this far above their highest recent use
    max_gap_intervals: int = 2  # a hole longer than this many sampling intervals is missing data


@dataclass(frozen=True)
class Recommendation:
    kind: Literal["raise", "lower", "hold"]
    resource: Resource
    from_: int
    to: int
    why: str
    # The lowest limit the recent use allows (base, or use + margin for memory and disk);
    # None when the down-window is not covered, so nobody may lower blind, or when the
    # limit is at base already (nothing to lower).
    floor: int | None

    @property
    def reason(self) -> str:
        """One log line: resource, from -> to and why."""
        return f"{self.resource} {self.from_}->{self.to} {UNITS[self.resource]}: {self.why}"


def recommend(usage: Usage, rule: Rule, settings: Settings = Settings()) -> Recommendation:
    """What the usage asks for, before any cap. One reason string, fit for one log line."""
    res, cur = usage.resource, usage.current
    urgent = sorted(usage.events & _URGENT[res]) if usage.events else []
    if cur <= rule.base and not urgent:
        last = usage.last_use()
        if last is not None and last * 100 < rule.up_percent * cur:
            # The fleet's steady state, decided without reading a window: the last sample
            # alone rules out a raise, and base is the floor (one shared answer per level).
            return _at_base(res, cur)
    unit = UNITS[res]
    floor = _floor(usage, rule, settings) if cur > rule.base else None

    def say(kind: Literal["raise", "lower", "hold"], to: int, why: str) -> Recommendation:
        return Recommendation(kind, res, cur, to, why, floor)

    if urgent:
        return say("raise", cur + rule.step, f"{', '.join(urgent)}: raised at once")
    up, why_not = _window(usage, rule.up_after_s, settings)
    if up is None:
        return say("hold", cur, f"held, {why_not}")
    if min(usage.uses[up]) * 100 >= rule.up_percent * cur:
        hot = _hot_for(usage, rule, settings)
        if hot >= rule.up_after_s:
            why = f"use >= {rule.up_percent}% for {rule.up_after_s} s"
            return say("raise", cur + rule.step, why)
        # Hot through the window, but its first hot sample is too recent: still counting.
        return say("hold", cur, f"held, use >= {rule.up_percent}% for {hot:g} s so far")
    if cur <= rule.base:
        return _at_base(res, cur)
    down, why_not = _window(usage, rule.down_after_s, settings)
    if down is None:
        return say("hold", cur, f"held, cannot lower: {why_not}")
    # One whole step (or to base): an in-between level could sit under the up threshold of
    # the step just raised from, and a raise followed by a lower is a flap.
    target = max(rule.base, cur - rule.step)
    peak = max(usage.uses[down])
    if floor is not None and floor > target:
        return say("hold", cur, f"peak use {peak} {unit} + margin is over {target} {unit}")
    if peak * 100 > rule.down_percent * target:
        return say("hold", cur, f"peak use {peak} {unit} > {rule.down_percent}% of {target}")
    return say(
        "lower", target, f"use <= {rule.down_percent}% of the lower limit for {rule.down_after_s} s"
    )


@lru_cache(maxsize=1024)
def _at_base(resource: Resource, level: int) -> Recommendation:
    """Hold at base: frozen, so made once per resource and level and shared by the fleet."""
    return Recommendation("hold", resource, level, level, "at base", None)


_URGENT: dict[Resource, frozenset[str]] = {
    "cpu": frozenset(),
    "memory": frozenset({"oom_kill"}),
    "disk": frozenset({"disk_full"}),
}


def _window(usage: Usage, length_s: int, settings: Settings) -> tuple[slice | None, str]:
    """Where the samples of the last `length_s` seconds are, or None and why they do not
    count: a hole in them, or a limit other than the one in force (the window restarts at
    every change)."""
    start = usage.now - length_s
    gap = usage.gap(start, settings.max_gap_intervals * usage.interval_s)
    if gap is not None:
        return None, f"usage missing: {gap}"
    span = usage.span(start)
    last = usage.last_other_limit(span)
    if last is not None:
        at, limit = usage.times[last], usage.limits[last]
        return None, f"a sample {usage.now - at:g} s ago was under the limit {limit}"
    return span, ""


def _hot_for(usage: Usage, rule: Rule, settings: Settings) -> float:
    """Seconds from the first to the last sample of the hot run that ends with the latest
    sample (the caller found the up-window hot): each sample of it at or above the threshold,
    read at the limit in force, none further than a hole from the next. Counted back only as
    far as the up-window needs (a handful of samples, and only for accounts that are hot)."""
    times, uses, limits, cur = usage.times, usage.uses, usage.limits, usage.current
    max_gap = settings.max_gap_intervals * usage.interval_s
    i = bisect_right(times, usage.now) - 1
    last = times[i]
    while (
        i > 0
        and last - times[i] < rule.up_after_s
        and times[i] - times[i - 1] <= max_gap
        and uses[i - 1] * 100 >= rule.up_percent * cur
        and same_limit(limits[i - 1], cur)
    ):
        i -= 1
    return last - times[i]


def _floor(usage: Usage, rule: Rule, settings: Settings) -> int | None:
    """The lowest limit the down-window's use allows; None when that window is not covered."""
    start = usage.now - rule.down_after_s
    if usage.gap(start, settings.max_gap_intervals * usage.interval_s) is not None:
        return None
    if usage.resource not in _HARD:
        return rule.base
    peak = max(usage.uses[usage.span(start)])
    return max(rule.base, peak + -(-peak * settings.margin_percent // 100))
