"""Where a new account goes: the active server with the fewest accounts.

Ties are broken by how full the server already is (its fullest resource, committed base
relative to capacity), then by name, so the choice is deterministic. A server that is draining,
down, or cannot fit the account's base is never chosen, nor a backup server. The reason is part
of the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.limits import effective_base
from glue.models import RESOURCES, Limits, Resource, ServerRole, ServerState


class PlacementError(BubbleError):
    """No server can take the account."""


@dataclass(frozen=True)
class Placement:
    server: str
    reason: str


@dataclass(frozen=True)
class ServerLoad:
    name: str
    accounts: int
    committed: dict[Resource, int]
    capacity: dict[Resource, int]

    def fill(self) -> Fraction:
        """The fullest resource's committed share of capacity (exact, no float ties)."""
        return max(Fraction(self.committed[r], self.capacity[r]) for r in RESOURCES)

    def fits(self, base: Limits) -> bool:
        return all(self.committed[r] + base.get(r) <= self.capacity[r] for r in RESOURCES)


def server_loads(catalog: Catalog, today: dt.date) -> dict[str, ServerLoad]:
    """Accounts and committed base per server, in one pass over the accounts. Accounts
    being removed do not count: their room is free as soon as their removal is asked for."""
    counts = dict.fromkeys(catalog.servers, 0)
    committed = {name: dict.fromkeys(RESOURCES, 0) for name in catalog.servers}
    for account in catalog.accounts.values():
        if account.server not in counts or account.state.leaving:
            continue
        counts[account.server] += 1
        base = effective_base(catalog.plans[account.plan], account, today)
        for resource in RESOURCES:
            committed[account.server][resource] += base.get(resource)
    return {
        name: ServerLoad(name, counts[name], committed[name], server.capacity())
        for name, server in catalog.servers.items()
    }


def choose_server(catalog: Catalog, base: Limits, today: dt.date) -> Placement:
    loads = server_loads(catalog, today)
    skipped: list[str] = []
    candidates: list[ServerLoad] = []
    for name in sorted(catalog.servers):
        server, load = catalog.servers[name], loads[name]
        if server.role is not ServerRole.WEB:
            continue  # a backup server is not a candidate, nor a reason worth showing
        if server.state is not ServerState.ACTIVE:
            skipped.append(f"{name} is {server.state.value}")
        elif not load.fits(base):
            skipped.append(f"{name} has no room")
        else:
            candidates.append(load)
    if not candidates:
        raise PlacementError(f"no server can take the account: {_summary(skipped)}")
    best = min(candidates, key=lambda load: (load.accounts, load.fill(), load.name))
    reason = f"{best.name} has the fewest accounts ({best.accounts})"
    tied = [c for c in candidates if c.accounts == best.accounts and c is not best]
    if tied:
        reason += f", tied with {', '.join(c.name for c in tied)}; chosen as least committed"
        if any(c.fill() == best.fill() for c in tied):
            reason += ", then by name"
    reason += f" ({float(best.fill()) * 100:.0f}% committed)"
    if skipped:
        reason += f"; skipped: {_summary(skipped)}"
    return Placement(best.name, reason)


def _summary(skipped: list[str], shown: int = 5) -> str:
    """The first few reasons; a fleet of 200 full servers must still fit on one line."""
    if not skipped:
        return "the catalog has no servers"
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return "; ".join(skipped[:shown]) + more
