"""Account changes carried to the account's server right away (the `--no-apply` path only
edits the catalog; `bubble apply` catches up later)."""

from __future__ import annotations

from collections.abc import Sequence

from glue.catalog import remove_account_file
from glue.limits import effective_base, limits_in_force
from glue.render.inventory import account_vars
from glue.services.accounts import require_account
from glue.services.apply import Report, converge, is_converged, live_servers, playbook
from glue.services.context import Context
from glue.services.root import render
from glue.state.limits_store import boosts_by_account, clear_boosts


def apply_accounts(ctx: Context, servers: Sequence[str], report: Report) -> None:
    """Create/update bubbles on these servers (a full converge where a server is new)."""
    catalog = ctx.catalog()
    render(ctx, catalog)
    converge(ctx, catalog, servers, report, ssh_timeout=30)


def apply_limits(ctx: Context, servers: Sequence[str], report: Report) -> None:
    """Limits only, live: slice properties and qgroups, no process restarted."""
    catalog = ctx.catalog()
    render(ctx, catalog)
    live = live_servers(catalog, servers)
    ready = {n: s for n, s in live.items() if is_converged(ctx, n, s)}
    if ready:
        playbook(ctx, "limits.yml", ready, report)
    if len(ready) < len(live):
        converge(ctx, catalog, [n for n in live if n not in ready], report)


def remove_account(ctx: Context, name: str, purge: bool, report: Report) -> None:
    """Remove the bubble from its server (archiving files and databases unless `purge`),
    then the account from the catalog. If the server step fails, the catalog keeps the
    account, so the same command can be run again."""
    catalog = ctx.catalog()
    account = require_account(catalog, name)
    server = catalog.servers[account.server]
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    limits = limits_in_force(base, boosts_by_account(ctx.engine).get(name, {}))
    gone = {**account_vars(account, limits, server), "state": "absent", "purge": purge}
    live = live_servers(catalog, [account.server])
    if live:
        playbook(ctx, "remove.yml", live, report, extra_vars={"account_accounts": {name: gone}})
    remove_account_file(ctx.root, name)
    clear_boosts(ctx.engine, name)
    render(ctx, catalog.without_account(name))
