"""`bubble plan ...`: base configurations and their prices."""

from __future__ import annotations

import typer

from glue.cli.common import (
    ApplyOption,
    JsonOption,
    Outcome,
    apply_limits_now,
    context,
    given,
    print_json,
    print_table,
    say,
)
from glue.cli.confirm import YesOption, confirm

plan_app = typer.Typer(help="Plans: list, show, set.", no_args_is_help=True)


@plan_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Plans and their base limits."""
    catalog = context(ctx).catalog()
    data = {name: plan.base.model_dump() for name, plan in sorted(catalog.plans.items())}
    if as_json:
        print_json(data)
        return
    print_table(
        "plans",
        ["name", "cpu MHz", "memory MiB", "disk MiB", "processes"],
        [
            [n, b["cpu_mhz"], b["memory_mib"], b["disk_mib"], b["processes"]]
            for n, b in data.items()
        ],
    )


@plan_app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """A plan in full: base, elastic rules, upgrade prices, thresholds."""
    from glue.catalog import plan_data
    from glue.services.plans import get_plan

    plan = get_plan(context(ctx), name)
    if as_json:
        print_json({"name": name, **plan.model_dump()})
        return
    from glue.yamlio import dump_yaml

    say(dump_yaml({name: plan_data(plan)}).rstrip())


@plan_app.command("set")
def set_(
    ctx: typer.Context,
    name: str,
    cpu: str | None = typer.Option(None, help="Base CPU, e.g. 1GHz."),
    memory: str | None = typer.Option(None, help="Base memory, e.g. 2GiB."),
    disk: str | None = typer.Option(None, help="Base disk, e.g. 30GiB."),
    processes: int | None = typer.Option(None, help="Base process limit."),
    apply: bool = ApplyOption,
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a plan's base; every account on it without an override follows."""
    from glue.services.plans import accounts_changed_by, set_plan

    changes = given(cpu=cpu, memory=memory, disk=disk, processes=processes)
    if not changes:
        raise typer.BadParameter("give at least one of --cpu, --memory, --disk, --processes")
    changed = accounts_changed_by(context(ctx), name, changes)
    if changed:
        confirm(f"change the limits of {len(changed)} account(s) on plan {name}", yes)
    out = Outcome(as_json)
    change = set_plan(context(ctx), name, changes)
    out.say(f"plan {name} updated; {change.following} account(s) follow it", plan=name)
    out.facts.update(following=change.following, servers=list(change.servers))
    if apply and change.servers:
        apply_limits_now(ctx, change.servers, out)
    out.end()
