"""Usage series and a tick-by-tick simulation for the scaler's policy and caps tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from glue.models import RESOURCES, Resource
from scaler.caps import Decision, Funds, caps
from scaler.policy import Rule, recommend
from scaler.usage import Event, Sample, Usage

NOW = 100_000.0
INTERVAL = 5.0
RULE = Rule(base=1000, step=500, ceiling=3000, hourly_price=10, up_after_s=120, down_after_s=900)
RICH = Funds(elastic=True, wallet=1_000_000)


def series(
    resource: Resource,
    uses: Sequence[int],
    limit: int,
    *,
    now: float = NOW,
    events: frozenset[Event] = frozenset(),
) -> Usage:
    """`uses` sampled every INTERVAL up to `now` (the last one at `now`), all under `limit`."""
    first = now - INTERVAL * (len(uses) - 1)
    samples = tuple(Sample(first + i * INTERVAL, use, limit) for i, use in enumerate(uses))
    return Usage.of("alice", resource, now, limit, samples, events, INTERVAL)


def steady(resource: Resource, use: int, limit: int, seconds: float = 1800) -> Usage:
    return series(resource, [use] * (int(seconds // INTERVAL) + 1), limit)


@dataclass(frozen=True)
class Run:
    levels: tuple[int, ...]  # the limit in force after every tick
    decisions: tuple[Decision, ...]  # every decision that changed it

    @property
    def changes(self) -> int:
        return len(self.decisions)


def simulate(
    resource: Resource,
    use: int,
    rule: Rule,
    ticks: int,
    *,
    start: int | None = None,
    funds: Funds = RICH,
    server_free: int = 10**9,
) -> Run:
    """A steady `use` sampled every INTERVAL; after every sample, recommend + caps, and a
    raise or lower takes effect at once (the next sample sees the new limit)."""
    keep = int(max(rule.up_after_s, rule.down_after_s) // INTERVAL) + 2
    current = rule.base if start is None else start
    samples: list[Sample] = []
    levels: list[int] = []
    decisions: list[Decision] = []
    for tick in range(ticks):
        now = NOW + tick * INTERVAL
        samples = [*samples[-keep:], Sample(now, use, current)]
        usage = Usage.of("alice", resource, now, current, samples, frozenset(), INTERVAL)
        decision = caps(recommend(usage, rule), rule, funds, server_free)
        if decision.kind in ("raise", "lower"):
            current = decision.to
            decisions.append(decision)
        levels.append(current)
    return Run(tuple(levels), tuple(decisions))


# --- hypothesis strategies ---


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """Any plan's rule: a ceiling from base to five steps and a part above it, any thresholds."""
    base = draw(st.integers(100, 4000))
    step = draw(st.integers(1, 2000))
    up = draw(st.integers(2, 100))
    up_after = draw(st.integers(1, 12)) * 5
    return Rule(
        base=base,
        step=step,
        ceiling=base + step * draw(st.integers(0, 5)) + draw(st.integers(0, step - 1)),
        hourly_price=draw(st.integers(0, 500)),
        up_percent=up,
        down_percent=draw(st.integers(1, up - 1)),
        up_after_s=up_after,
        down_after_s=up_after + draw(st.integers(0, 12)) * 5,
    )


resources = st.sampled_from(RESOURCES)


@st.composite
def usages(draw: st.DrawFn, resource: Resource, rule: Rule) -> Usage:
    """Anything the metrics could say: ragged times, holes, other limits, events."""
    current = draw(st.integers(rule.base, max(rule.base, rule.ceiling)))
    times = draw(st.lists(st.integers(0, rule.down_after_s + 30), max_size=60, unique=True))
    samples = tuple(
        Sample(
            NOW - t,
            draw(st.integers(0, 2 * current)),
            draw(st.sampled_from([current, current, current, rule.base])),
        )
        for t in times
    )
    events = draw(st.frozensets(st.sampled_from(["oom_kill", "disk_full"])))
    return Usage.of("alice", resource, NOW, current, samples, events, INTERVAL)
