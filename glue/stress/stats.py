"""A load run's figures: latency percentiles (nearest rank, over every answer whatever its
status), throughput, errors by status, dropped requests, per-second latency for the plot,
and for a sweep the rate at which latency or errors start climbing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from glue.stress.load import Run

# Latency climbs at the first step whose p99 is over CLIMB_FACTOR x the lowest step's (and
# more than CLIMB_FLOOR_MS above it: below that it is timer noise on a fast site); errors
# climb when the share failed or dropped is ERROR_RISE above the lowest step's.
CLIMB_FACTOR = 2.0
CLIMB_FLOOR_MS = 1.0
ERROR_RISE = 0.01


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least q% at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _answered(outcome: str) -> bool:
    return outcome.isdigit()


def _ok(outcome: str) -> bool:
    return outcome.isdigit() and 200 <= int(outcome) < 400


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def summary(run: Run) -> dict[str, Any]:
    """What one run measured; latencies in milliseconds from each request's due time."""
    answered = [s.latency for s in run.samples if _answered(s.outcome)]
    errors = Counter(s.outcome for s in run.samples if not _ok(s.outcome))
    ends = [s.due + s.latency for s in run.samples]
    elapsed = max([run.duration, *ends])
    failed = sum(errors.values()) + len(run.dropped)
    return {
        "rate": run.rate,
        "duration_s": run.duration,
        "start": run.start,
        "scheduled": run.scheduled,
        "sent": len(run.samples),
        "answered": len(answered),
        "ok": len(run.samples) - sum(errors.values()),
        "dropped": len(run.dropped),
        "errors": dict(sorted(errors.items())),
        "error_share": round(failed / run.scheduled, 6) if run.scheduled else 0.0,
        "throughput_rps": round(len(answered) / elapsed, 3),
        "realtime": run.realtime,
        "latency_ms": {
            "p50": _ms(percentile(answered, 50)),
            "p95": _ms(percentile(answered, 95)),
            "p99": _ms(percentile(answered, 99)),
            "max": _ms(max(answered, default=None)),
        },
    }


def per_second(run: Run) -> list[dict[str, Any]]:
    """Latency of the answers due in each second of the run: [second, p50, p99, max] (ms)."""
    buckets: dict[int, list[float]] = {}
    for s in run.samples:
        if _answered(s.outcome):
            buckets.setdefault(int(s.due), []).append(s.latency)
    return [
        {"second": second, "p50": _ms(percentile(values, 50)),
         "p99": _ms(percentile(values, 99)), "max": _ms(max(values))}
        for second, values in sorted(buckets.items())
    ]  # fmt: skip


def climb(steps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The first step (summaries, lowest rate first) where latency or errors climb against
    the lowest step: {"rate", "why": ["latency", "errors"] (what climbed), "p99_ms",
    "baseline_p99_ms"}."""
    if len(steps) < 2:
        return None
    low = steps[0]
    base = low["latency_ms"]["p99"]
    for step in steps[1:]:
        p99 = step["latency_ms"]["p99"]
        why = []
        if (
            base is not None
            and p99 is not None
            and p99 > max(CLIMB_FACTOR * base, base + CLIMB_FLOOR_MS)
        ):
            why.append("latency")
        if step["error_share"] > low["error_share"] + ERROR_RISE:
            why.append("errors")
        if why:
            return {"rate": step["rate"], "why": why, "p99_ms": p99, "baseline_p99_ms": base}
    return None
