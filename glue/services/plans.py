"""Plans: the base every account on a plan follows unless an admin overrode it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from glue.catalog import Catalog, plan_data, save_plans, validated
from glue.errors import BubbleError
from glue.limits import effective_base
from glue.models import Plan
from glue.services.context import Context


@dataclass(frozen=True)
class PlanChange:
    plan: Plan
    following: int  # accounts on the plan without an override
    servers: list[str]  # servers hosting accounts on the plan: their limits change


# How the scaler moves a plan's accounts: {"thresholds": {field: value}, "elastic": {resource:
# {"step"|"ceiling"|"hourly_price": value}}}, in the catalog's own form (money as "0.02").
Scaling = dict[str, dict[str, Any]]


def set_plan(
    ctx: Context, name: str, base_changes: dict[str, str | int], scaling: Scaling | None = None
) -> PlanChange:
    """Change (or, with cpu, memory and disk all given, create) a plan's base and its scaling
    (thresholds, windows, and per resource the elastic step, ceiling and hourly price)."""
    catalog = ctx.catalog()
    plan = changed_plan(catalog, name, base_changes, scaling)
    save_plans(catalog.with_plan(name, plan))
    on_plan = [account for account in catalog.accounts.values() if account.plan == name]
    following = sum(1 for a in on_plan if not a.overrides.model_dump(exclude_none=True))
    return PlanChange(plan, following, sorted({a.server for a in on_plan}))


def changed_plan(
    catalog: Catalog, name: str, base_changes: dict[str, str | int], scaling: Scaling | None = None
) -> Plan:
    """The plan with these changes (a new plan when cpu, memory and disk are given), validated
    whole: a ceiling under the base or a down-threshold not under the up one is refused."""
    if name in catalog.plans:
        data: dict[str, Any] = plan_data(catalog.plans[name])
        data["base"] = {**data["base"], **base_changes}
    elif {"cpu", "memory", "disk"} <= set(base_changes):
        data = {"base": dict(base_changes)}
    else:
        raise BubbleError(f"unknown plan {name!r} (give --cpu, --memory and --disk to create it)")
    scaling = scaling or {}
    if scaling.get("thresholds"):
        data["thresholds"] = {**data.get("thresholds", {}), **scaling["thresholds"]}
    for resource, changes in scaling.get("elastic", {}).items():
        elastic = data.setdefault("elastic", {})
        elastic[resource] = {**elastic.get(resource, {}), **changes}
    return validated(Plan, data, f"plan {name!r}")


def accounts_changed_by(
    ctx: Context, name: str, base_changes: dict[str, str | int], scaling: Scaling | None = None
) -> list[str]:
    """Accounts whose base limits `set_plan` with these changes would alter (asked before
    it is done; bad input raises here, before anything is written)."""
    catalog = ctx.catalog()
    new = changed_plan(catalog, name, base_changes, scaling)
    old = catalog.plans.get(name)
    return sorted(
        account_name
        for account_name, account in catalog.accounts.items()
        if old is not None
        and account.plan == name
        and effective_base(old, account, ctx.today) != effective_base(new, account, ctx.today)
    )


def get_plan(ctx: Context, name: str) -> Plan:
    catalog = ctx.catalog()
    if name not in catalog.plans:
        raise BubbleError(f"unknown plan {name!r}")
    return catalog.plans[name]


@dataclass(frozen=True)
class PlanCost:
    """What a base change does to a plan's accounts, asked before it is made: how many are on
    it and follow its base, whose base changes, and the elastic capacity they have in force
    now costs an hour (exact cents, `wallets.burn_of`) before and after."""

    accounts: int
    following: int
    changed: list[str]
    burn_now: Fraction
    burn_after: Fraction


def plan_cost(ctx: Context, name: str, base_changes: dict[str, str | int]) -> PlanCost:
    from glue.limits import limits_in_force
    from glue.services.wallets import burn_of
    from glue.state.boosts import boosts_at

    catalog = ctx.catalog()
    get_plan(ctx, name)
    new = changed_plan(catalog, name, base_changes)
    after = catalog.with_plan(name, new)
    on_plan = sorted(n for n, a in catalog.accounts.items() if a.plan == name)
    boosts = boosts_at(ctx.engine)
    forces = (limits_in_force(c, boosts, ctx.today, on_plan) for c in (catalog, after))
    now_in_force, after_in_force = forces
    burn_now = burn_after = Fraction(0)
    for account_name in on_plan:
        account = catalog.accounts[account_name]
        burn_now += burn_of(account_name, catalog.plans[name], account,
                            now_in_force[account_name], ctx.today)  # fmt: skip
        burn_after += burn_of(account_name, new, account, after_in_force[account_name], ctx.today)
    following = sum(
        1 for n in on_plan if not catalog.accounts[n].overrides.model_dump(exclude_none=True)
    )
    changed = accounts_changed_by(ctx, name, base_changes)
    return PlanCost(len(on_plan), following, changed, burn_now, burn_after)
