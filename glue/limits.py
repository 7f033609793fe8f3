"""Which limits an account has: its base (plan + upgrades, then admin overrides) and the
limits in force (base, raised by any elastic boost the scaler holds in the state DB).

`limits_in_force` is the one answer to "what are this account's limits": rendering, account
show and list, the limits push, migrate's disk check, the scaler and the panel all ask it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from glue.catalog import Catalog
from glue.models import RESOURCES, Account, Limits, Plan, Resource


def active_upgrades(account: Account, today: dt.date) -> dict[Resource, int]:
    totals: dict[Resource, int] = {}
    for upgrade in account.upgrades:
        if upgrade.expires > today:
            totals[upgrade.resource] = totals.get(upgrade.resource, 0) + upgrade.amount
    return totals


def effective_base(plan: Plan, account: Account, today: dt.date) -> Limits:
    """Plan base + active permanent upgrades; an admin override wins for its resource."""
    limits = plan.base
    for resource, extra in active_upgrades(account, today).items():
        limits = limits.with_value(resource, limits.get(resource) + extra)
    overrides = account.overrides.model_dump(exclude_none=True)
    return limits.model_copy(update=overrides) if overrides else limits


def base_moved(catalog: Catalog, before: dt.date, today: dt.date) -> list[str]:
    """Accounts whose base differs between the two days: a permanent upgrade expired (or its
    date came), so the limits in force move without any edit to the catalog."""
    moved = []
    for name, account in sorted(catalog.accounts.items()):
        plan = catalog.plans[account.plan]
        if effective_base(plan, account, before) != effective_base(plan, account, today):
            moved.append(name)
    return moved


def raised_by_boosts(base: Limits, boosts: Mapping[str, int]) -> Limits:
    """Base with each boosted resource raised to the value the scaler put in force.

    A boost below base (the admin raised the base since) is ignored: base is the floor."""
    limits = base
    for resource in RESOURCES:
        value = boosts.get(resource)
        if value is not None and value > limits.get(resource):
            limits = limits.with_value(resource, value)
    return limits


def limits_in_force(
    catalog: Catalog,
    boosts: Mapping[str, Mapping[str, int]],
    on: dt.date,
    accounts: Iterable[str] | None = None,
) -> dict[str, Limits]:
    """Account -> its limits in force on day `on`: the base on that day (plan, upgrades not
    yet expired, overrides) raised by `boosts` (account -> {resource: value}, what
    `glue.state.boosts.boosts_at` says was in force at that time). For `accounts` (default:
    every account in the catalog); an unknown name is a KeyError."""
    names = sorted(catalog.accounts) if accounts is None else list(accounts)
    out: dict[str, Limits] = {}
    for name in names:
        account = catalog.accounts[name]
        base = effective_base(catalog.plans[account.plan], account, on)
        out[name] = raised_by_boosts(base, boosts.get(name, {}))
    return out


def cpu_quota_percent(cpu_mhz: int, core_mhz: int) -> int:
    """CPUQuota for a clock budget: 1 GHz on 2.5 GHz cores = 40%. Rounded up, at least 1."""
    return max(1, -(-cpu_mhz * 100 // core_mhz))


def memory_high_mib(memory_mib: int) -> int:
    """MemoryHigh sits 10% below MemoryMax: the kernel reclaims and throttles before it kills."""
    return max(1, memory_mib * 9 // 10)
