"""`bubble apply`: make the servers what the catalog says.

1. plan (`plan_servers`): render inventory and Terraform variables; per provider stack in use,
   `terraform plan -out` into a private directory, read back with `terraform show -json` as
   what happens to each server (create, update, replace, destroy). A plan that would destroy
   or replace a server still holding accounts in the catalog is refused: nothing is applied;
2. the caller shows the summary and asks before anything is destroyed;
3. apply (`apply`): exactly those saved plans (Terraform refuses one that went stale), the
   servers' addresses recorded, then each live server probed over ssh (one call that also
   reads its converged mark) and configured with Ansible: the full `site.yml` where the
   server was never converged, was converged by another toolkit version, or `full` is asked
   for; `accounts.yml` (only what changed changes) elsewhere. Each server's lock is held while
   Ansible runs.

A failure stops with one line naming the server and the step; the catalog is untouched by
apply (the addresses cloud servers learn go to the state DB), so running it again finishes
the job.
"""

from __future__ import annotations

from collections.abc import Sequence

from glue.services.context import Context
from glue.services.converge import ApplyResult, Report, converge, live_servers
from glue.services.fleet_plan import FleetPlan, apply_stack, refuse_data_loss
from glue.services.root import render_current


def apply(
    ctx: Context,
    plan: FleetPlan,
    report: Report,
    only: Sequence[str] | None = None,
    full: bool = False,
) -> ApplyResult:
    """Apply the saved plans, then Ansible on the live servers (or `only` those); accounts
    being removed leave the catalog once their server confirmed it."""
    from glue.services.accounts import finish_removals

    refuse_data_loss(plan, ctx.catalog())  # again: an account may have been placed since
    for stack in plan.stacks:
        apply_stack(ctx, stack, report)
    catalog, _ = render_current(ctx)  # with the addresses the stacks recorded
    result = converge(ctx, catalog, list(live_servers(catalog, only)), report, full=full)
    finish_removals(ctx, catalog, result.created + result.upgraded + result.updated, report)
    return result
