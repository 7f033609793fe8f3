"""Plans: the base every account on a plan follows unless an admin overrode it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glue.catalog import plan_data, save_plans, validated
from glue.errors import BubbleError
from glue.models import Plan
from glue.services.context import Context


@dataclass(frozen=True)
class PlanChange:
    plan: Plan
    following: int  # accounts on the plan without an override
    servers: list[str]  # servers hosting accounts on the plan: their limits change


def set_plan(ctx: Context, name: str, base_changes: dict[str, str | int]) -> PlanChange:
    """Change (or, with cpu, memory and disk all given, create) a plan's base."""
    catalog = ctx.catalog()
    if name in catalog.plans:
        data: dict[str, Any] = plan_data(catalog.plans[name])
        data["base"] = {**data["base"], **base_changes}
    elif {"cpu", "memory", "disk"} <= set(base_changes):
        data = {"base": dict(base_changes)}
    else:
        raise BubbleError(f"unknown plan {name!r} (give --cpu, --memory and --disk to create it)")
    plan = validated(Plan, data, f"plan {name!r}")
    save_plans(catalog.with_plan(name, plan))
    on_plan = [account for account in catalog.accounts.values() if account.plan == name]
    following = sum(1 for a in on_plan if not a.overrides.model_dump(exclude_none=True))
    return PlanChange(plan, following, sorted({a.server for a in on_plan}))


def get_plan(ctx: Context, name: str) -> Plan:
    catalog = ctx.catalog()
    if name not in catalog.plans:
        raise BubbleError(f"unknown plan {name!r}")
    return catalog.plans[name]
