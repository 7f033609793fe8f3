"""`bubble plan ...`: base configurations and their prices."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # imported lazily: `bubble --help` must start fast
    from glue.services.plans import Scaling

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


def _percent(text: str, option: str) -> int:
    raw = text.strip().removesuffix("%").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise typer.BadParameter(f"{text!r}: a percentage from 1% to 100%", param_hint=option)
    return int(raw)


def _window(text: str, option: str) -> int:
    from scaler.influx import duration_seconds

    try:
        seconds = duration_seconds(text.strip())
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise typer.BadParameter(
            f"{text!r}: a duration above 0, e.g. 30s or 10m", param_hint=option
        )
    return seconds


def _per_resource(values: list[str], option: str, key: str, scaling: Scaling) -> None:
    """`--step cpu=500MHz` (repeatable) into scaling["elastic"][resource][key], parsed in
    the resource's unit (price: exact cents, kept in the catalog's form)."""
    from glue.models import RESOURCES, parse_resource
    from glue.units import UnitError, format_money, parse_money_cents

    for value in values:
        resource, sep, amount = value.partition("=")
        if not sep or resource not in RESOURCES:
            raise typer.BadParameter(
                f"{value!r}: write RESOURCE=VALUE, RESOURCE one of {', '.join(RESOURCES)}",
                param_hint=option,
            )
        try:
            parsed: str | int = (
                format_money(parse_money_cents(amount))
                if key == "hourly_price"
                else parse_resource(resource, amount)
            )
        except UnitError as exc:
            raise typer.BadParameter(f"{resource}: {exc}", param_hint=option) from exc
        scaling.setdefault("elastic", {}).setdefault(resource, {})[key] = parsed


@plan_app.command("set")
def set_(
    ctx: typer.Context,
    name: str,
    cpu: str | None = typer.Option(None, help="Base CPU, e.g. 1GHz."),
    memory: str | None = typer.Option(None, help="Base memory, e.g. 2GiB."),
    disk: str | None = typer.Option(None, help="Base disk, e.g. 30GiB."),
    processes: int | None = typer.Option(None, help="Base process limit."),
    threshold: str | None = typer.Option(
        None, "--threshold", help="Raise at this use of the limit, e.g. 90%."
    ),
    down_threshold: str | None = typer.Option(
        None, "--down-threshold", help="Lower under this use of the lower limit, e.g. 50%."
    ),
    up_after: str | None = typer.Option(None, "--up-after", help="Up-window, e.g. 30s."),
    down_after: str | None = typer.Option(None, "--down-after", help="Down-window, e.g. 10m."),
    step: list[str] = typer.Option([], "--step", help="Elastic step, e.g. cpu=500MHz."),
    ceiling: list[str] = typer.Option([], "--ceiling", help="Elastic ceiling, e.g. memory=8GiB."),
    price: list[str] = typer.Option([], "--price", help="Hourly price per step, e.g. cpu=0.02."),
    apply: bool = ApplyOption,
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a plan's base (every account on it without an override follows) and how the
    scaler moves its accounts: thresholds, windows, and per resource step, ceiling, price."""
    from glue.errors import BubbleError
    from glue.services.plans import accounts_changed_by, set_plan

    changes = given(cpu=cpu, memory=memory, disk=disk, processes=processes)
    scaling: Scaling = {}
    thresholds: dict[str, int] = {}
    if threshold is not None:
        thresholds["up_percent"] = _percent(threshold, "--threshold")
    if down_threshold is not None:
        thresholds["down_percent"] = _percent(down_threshold, "--down-threshold")
    if up_after is not None:
        thresholds["up_after_s"] = _window(up_after, "--up-after")
    if down_after is not None:
        thresholds["down_after_s"] = _window(down_after, "--down-after")
    if thresholds:
        scaling["thresholds"] = thresholds
    for values, option, key in ((step, "--step", "step"), (ceiling, "--ceiling", "ceiling"),
                                (price, "--price", "hourly_price")):  # fmt: skip
        _per_resource(values, option, key, scaling)
    if not changes and not scaling:
        raise typer.BadParameter(
            "give at least one of --cpu, --memory, --disk, --processes, --threshold, "
            "--down-threshold, --up-after, --down-after, --step, --ceiling, --price"
        )
    try:
        changed = accounts_changed_by(context(ctx), name, changes, scaling)
    except BubbleError as exc:
        if not scaling:
            raise
        # The scaling options checked against the whole plan (ceiling >= base, down < up).
        raise typer.BadParameter(str(exc)) from exc
    if changed:
        confirm(f"change the limits of {len(changed)} account(s) on plan {name}", yes)
    out = Outcome(as_json)
    change = set_plan(context(ctx), name, changes, scaling)
    out.say(f"plan {name} updated; {change.following} account(s) follow it", plan=name)
    out.facts.update(following=change.following, servers=list(change.servers))
    if apply and change.servers and changes:  # scaling settings change no limit in force
        apply_limits_now(ctx, change.servers, out)
    out.end()
