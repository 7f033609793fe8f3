"""Terraform across the provider stacks: plan every stack in use into a private directory,
read back what each plan does to each server, refuse plans that lose accounts' data, apply
exactly the saved plans, and record in the state DB the addresses the providers report."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.fleet_settings import ftp_passive_ports
from glue.paths import TOOLKIT_DIR, state_dir, tfvars_dir
from glue.providers import PROVIDERS, provider
from glue.remote import public_key
from glue.services.context import Context
from glue.services.converge import Report
from glue.services.root import render_current
from glue.state.addresses import record_addresses
from glue.terraform import Terraform

# What a plan does to a server, least harmful first: the worst of its resources' actions wins.
ACTIONS = ("update", "create", "replace", "destroy")
LOSES_DATA = ("replace", "destroy")


# -- Terraform: plan, check, apply ------------------------------------------------------------


def terraform_for(ctx: Context, name: str) -> Terraform:
    return Terraform(TOOLKIT_DIR / "terraform" / "stacks" / name,
                     state_dir(ctx.root) / "terraform" / name)  # fmt: skip


def stacks_in_use(ctx: Context, catalog: Catalog) -> list[str]:
    """Providers with servers in the catalog, or with state left (their servers must go)."""
    used = {s.provider for s in catalog.servers.values()}
    return [p for p in sorted(PROVIDERS) if p in used or terraform_for(ctx, p).state_file.exists()]


def stack_variables(ctx: Context, name: str) -> dict[str, Any]:
    variables: dict[str, Any] = {"ssh_public_key": public_key(ctx.root)}
    variables["ftp_passive_ports"] = ftp_passive_ports(ctx.root)  # the operator's fleet setting
    if not (tfvars_dir(ctx.root) / f"{name}.tfvars.json").exists():
        variables["servers"] = {}
    return {**variables, **provider(name).stack_variables()}


def _action(actions: Sequence[str]) -> str | None:
    if "delete" in actions:
        return "replace" if "create" in actions else "destroy"
    if "create" in actions or "update" in actions:
        return actions[0]
    return None  # no-op, read, forget


def _changes(plan: Mapping[str, Any]) -> Iterator[tuple[Any, str, str]]:
    """(for_each key, address, action) of every managed resource the plan changes."""
    for change in plan.get("resource_changes") or []:
        action = _action(change.get("change", {}).get("actions", []))
        if change.get("mode") == "managed" and action is not None:
            yield change.get("index"), str(change.get("address", "")), action


def server_actions(plan: Mapping[str, Any]) -> dict[str, str]:
    """What a plan (`terraform show -json`) does to each server. The stacks key every
    per-server resource by the server's name (for_each), so a managed resource with a string
    key is that server's; the most harmful action among a server's resources wins."""
    found: dict[str, str] = {}
    for key, _, action in _changes(plan):
        if isinstance(key, str) and (
            key not in found or ACTIONS.index(action) > ACTIONS.index(found[key])
        ):
            found[key] = action
    return dict(sorted(found.items()))


def other_losses(plan: Mapping[str, Any]) -> dict[str, str]:
    """Resources of no one server (a firewall, a key) that the plan destroys or replaces."""
    lost = {
        a: act for key, a, act in _changes(plan) if not isinstance(key, str) and act in LOSES_DATA
    }
    return dict(sorted(lost.items()))


@dataclass(frozen=True)
class StackPlan:
    provider: str
    file: Path  # the saved plan, applied as it is
    pending: bool  # anything to apply (resources or outputs)
    servers: dict[str, str] = field(default_factory=dict)  # server -> ACTIONS
    others: dict[str, str] = field(default_factory=dict)  # other resource address -> LOSES_DATA


@dataclass
class FleetPlan:
    """Every stack's saved plan, in a private directory removed when the plan is closed."""

    directory: Path
    stacks: list[StackPlan] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = []
        for stack in self.stacks:
            changes = [f"{a} {name}" for name, a in {**stack.servers, **stack.others}.items()]
            shown = ", ".join(changes) or ("other changes only" if stack.pending else "no changes")
            lines.append(f"terraform {stack.provider}: {shown}")
        return lines

    @property
    def destroyed(self) -> list[str]:
        """Servers the plan destroys or replaces (their disks go)."""
        return sorted(n for s in self.stacks for n, a in s.servers.items() if a in LOSES_DATA)

    def losses(self) -> str:
        """What the plan destroys or replaces, for the question asked first ("": nothing)."""
        servers = [f"server(s) {', '.join(self.destroyed)}"] if self.destroyed else []
        return ", ".join(servers + [address for s in self.stacks for address in s.others])

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> FleetPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refuse_data_loss(plan: FleetPlan, catalog: Catalog) -> None:
    """Never destroy or replace a server that still holds accounts in the catalog."""
    lost = []
    for stack in plan.stacks:
        for name, action in stack.servers.items():
            accounts = sorted(catalog.accounts_on(name))
            if action in LOSES_DATA and accounts:
                shown = ", ".join(accounts[:5]) + (" ..." if len(accounts) > 5 else "")
                lost.append(f"{action} server {name}, which holds {len(accounts)} account(s) "
                            f"({shown})")  # fmt: skip
    if lost:
        raise BubbleError(
            f"refusing to {'; '.join(lost)}: nothing applied (move or delete its accounts "
            "first, or undo the catalog change)"
        )


def plan_servers(ctx: Context, report: Report) -> FleetPlan:
    """Render, then plan every stack in use; refuse a plan that would lose accounts' data.
    The caller applies the result with `apply` and closes it."""
    catalog, _ = render_current(ctx)
    directory = state_dir(ctx.root) / "terraform"
    directory.mkdir(parents=True, exist_ok=True)
    plan = FleetPlan(Path(tempfile.mkdtemp(prefix="plan-", dir=directory)))  # mode 0700
    try:
        for name in stacks_in_use(ctx, catalog):
            plan.stacks.append(plan_stack(ctx, name, plan.directory, report))
        refuse_data_loss(plan, catalog)
    except BaseException:
        plan.close()
        raise
    return plan


def plan_stack(ctx: Context, name: str, directory: Path, report: Report) -> StackPlan:
    tf = terraform_for(ctx, name)
    var_file = tfvars_dir(ctx.root) / f"{name}.tfvars.json"
    report(f"terraform {name}: plan")
    tf.init()
    file = directory / f"{name}.tfplan"
    pending = tf.plan(var_file if var_file.exists() else None, stack_variables(ctx, name), file)
    if not pending:
        return StackPlan(name, file, pending)
    shown = tf.show(file)
    return StackPlan(name, file, pending, server_actions(shown), other_losses(shown))


def apply_stack(ctx: Context, stack: StackPlan, report: Report) -> None:
    """Apply one stack's saved plan, then record in the state DB the address of each of its
    servers as the stack reports it (cloud servers learn theirs at creation). The caller
    renders afterwards: the inventory reads the recorded addresses."""
    tf = terraform_for(ctx, stack.provider)
    provider(stack.provider).before_apply(report)
    if stack.pending:
        report(f"terraform {stack.provider}: apply")
        tf.apply(stack.file)
    servers = tf.output().get("servers") or {}
    addresses = {name: str(out.get("address") or "") for name, out in servers.items()}
    record_addresses(ctx.engine, stack.provider, addresses, dt.datetime.now(dt.UTC))


def destroy_stack(ctx: Context, name: str, report: Report) -> bool:
    """`terraform destroy` of one stack of this root (False when it has no state); its
    servers' recorded addresses go with them."""
    tf = terraform_for(ctx, name)
    if not tf.state_file.exists():
        return False
    variables = {**stack_variables(ctx, name), "servers": {}}
    report(f"terraform {name}: destroy")
    tf.init()
    tf.destroy(None, variables)
    record_addresses(ctx.engine, name, {}, dt.datetime.now(dt.UTC))
    return True
