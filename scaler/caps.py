"""What may actually happen to a recommendation (pure): the caps, in the issue's order.

1. the plan's ceiling (a raise is cut to it; at it, held);
2. the server's free capacity (a raise that does not fit is `deferred`, with its reason);
3. the wallet covers at least the next hour at the new level;
4. the account's own daily spend cap: spent today + the next hour <= max_daily;
5. elasticity switched on; off: no raise, and a boost is lowered back to base (memory and
   disk not under their use + margin, and nothing at all while the usage is unknown).
A lower passes caps 1-4 untouched: it never costs and always fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from glue.models import Resource
from scaler.billing import pro_rata
from scaler.policy import UNITS, Recommendation, Rule

Kind = Literal["raise", "lower", "hold", "deferred"]


@dataclass(frozen=True)
class Funds:
    """One account's money and wishes at this tick (cents)."""

    elastic: bool
    wallet: int  # balance now
    spent_today: int = 0  # elastic charges so far today
    max_daily: int | None = None  # the customer's cap; None: no cap
    other_hourly: int = 0  # what the account's other resources in force cost per hour

    def other_costs(self, other_hourly: int) -> Funds:
        """These funds with `other_hourly` (built directly: `dataclasses.replace` is slow
        when a tick does it for every account and resource of the fleet)."""
        if other_hourly == self.other_hourly:  # the fleet's usual case: nothing else costs
            return self
        return Funds(self.elastic, self.wallet, self.spent_today, self.max_daily, other_hourly)


@dataclass(frozen=True)
class Decision:
    kind: Kind
    resource: Resource
    from_: int
    to: int
    reason: str  # one log line


_Say = Callable[[Kind, int, str], Decision]


def hourly_cost(rule: Rule, level: int) -> int:
    """Cents per hour for `level` in force: billing's tariff, a part cent rounded up (the
    wallet must cover the hour billing will charge)."""
    if level <= rule.base:  # most of the fleet, every tick: nothing above base costs nothing
        return 0
    return math.ceil(pro_rata(level - rule.base, rule.step, rule.hourly_price))


def caps(rec: Recommendation, rule: Rule, funds: Funds, server_free: int) -> Decision:
    """Apply the caps to `rec`; `server_free` is the server's unused capacity of the resource."""
    res, cur, unit = rec.resource, rec.from_, UNITS[rec.resource]

    def say(kind: Kind, to: int, why: str) -> Decision:
        return _decision(kind, res, cur, to, why)

    if not funds.elastic:
        return _elasticity_off(rec, rule, say)
    if rec.kind != "raise":
        return say(rec.kind, rec.to, rec.why)
    to = min(rec.to, rule.ceiling)
    if to <= cur:
        return say("hold", cur, f"at the plan's ceiling {rule.ceiling} {unit} ({rec.why})")
    if to - cur > server_free:
        return say("deferred", to, f"the server has only {server_free} {unit} free ({rec.why})")
    next_hour = hourly_cost(rule, to) + funds.other_hourly
    if funds.wallet < next_hour:
        return say("hold", cur, f"wallet {funds.wallet} cents < next hour {next_hour} cents")
    if funds.max_daily is not None and funds.spent_today + next_hour > funds.max_daily:
        return say(
            "hold",
            cur,
            f"spent today {funds.spent_today} + next hour {next_hour} cents"
            f" > daily cap {funds.max_daily} cents",
        )
    return say("raise", to, rec.why)


@lru_cache(maxsize=4096)
def _decision(kind: Kind, resource: Resource, cur: int, to: int, why: str) -> Decision:
    """A decision with its log line: frozen, so the fleet's many alike (a hold at base) share
    one, made once."""
    return Decision(kind, resource, cur, to, f"{resource} {cur}->{to} {UNITS[resource]}: {why}")


def _elasticity_off(rec: Recommendation, rule: Rule, say: _Say) -> Decision:
    cur = rec.from_
    if cur <= rule.base:
        return say("hold", cur, "elasticity is off: stays at base")
    if rec.floor is None:
        return say("hold", cur, "elasticity is off, usage unknown: held until it is known")
    to = max(rule.base, rec.floor)
    if to >= cur:
        return say("hold", cur, "elasticity is off: held, use + margin is above the lower level")
    return say("lower", to, "elasticity is off: boost lowered to base")
