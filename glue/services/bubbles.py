"""Account changes carried to the account's server right away (the `--no-apply` path only
edits the catalog; `bubble apply` catches up later).

The catalog is written first, so a failure on the way leaves the change there and running the
same command again (or `bubble apply`) finishes the job. Before any Ansible each server is
asked once whether it is ready (one ssh call): a server not built or not configured yet, down
in the catalog, or not answering gets nothing now, and the caller says so at once.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from glue.catalog import Catalog
from glue.models import Server, ServerState
from glue.remote import ssh_argv
from glue.render.inventory import removal_vars
from glue.services.accounts import delete_account, finish_removals
from glue.services.context import Context
from glue.services.converge import CONVERGED_MARK, Report, converge, playbook
from glue.services.fleet_plan import terraform_for
from glue.services.root import render_current
from glue.state.addresses import recorded_addresses, server_address

PROBE_SECONDS = 20  # ssh's own ConnectTimeout (5-10 s) ends it first when nothing answers

Why = Literal["unbuilt", "unconfigured", "down", "silent"]


@dataclass(frozen=True)
class Pending:
    """A server the change did not reach: it waits in the catalog for `bubble apply`."""

    server: str
    why: Why
    detail: str = ""

    @property
    def fault(self) -> bool:
        """A built server that did not answer (the others are the normal order of things)."""
        return self.why == "silent"

    def __str__(self) -> str:
        return {
            "unbuilt": f"server {self.server} is not built yet",
            "unconfigured": f"server {self.server} is not configured yet",
            "down": f"server {self.server} is down in the catalog",
            "silent": f"server {self.server} does not answer ({self.detail})",
        }[self.why]


@dataclass
class Carried:
    done: list[str] = field(default_factory=list)  # servers that have the change
    pending: list[Pending] = field(default_factory=list)


def built(ctx: Context, name: str, server: Server) -> bool:
    """Whether the server exists: it has an address and its provider's Terraform state has
    it (the stack's `servers` output)."""
    if not server_address(name, server, recorded_addresses(ctx.engine)):
        return False
    try:
        state = json.loads(terraform_for(ctx, server.provider).state_file.read_text("utf-8"))
        return name in state["outputs"]["servers"]["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def probe(
    ctx: Context, catalog: Catalog, names: Sequence[str]
) -> tuple[dict[str, Server], list[Pending]]:
    """The servers ready for an account change (converged, answering), and the others."""
    ready: dict[str, Server] = {}
    pending: list[Pending] = []
    for name in sorted(set(names)):
        server = catalog.servers[name]
        if server.state is ServerState.DOWN:
            pending.append(Pending(name, "down"))
            continue
        if not server_address(name, server, recorded_addresses(ctx.engine)):
            pending.append(Pending(name, "unbuilt"))
            continue
        argv = ssh_argv(ctx, name, server, f"test -f {CONVERGED_MARK}")
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                timeout=PROBE_SECONDS,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pending.append(Pending(name, "silent", f"no answer within {PROBE_SECONDS} s"))
            continue
        if done.returncode == 0:
            ready[name] = server
        elif done.returncode == 1:  # ssh worked, the mark is missing: never converged
            pending.append(Pending(name, "unconfigured"))
        elif not built(ctx, name, server):
            pending.append(Pending(name, "unbuilt"))
        else:
            lines = done.stderr.strip().splitlines()
            detail = lines[-1] if lines else f"ssh exit {done.returncode}"
            pending.append(Pending(name, "silent", f"ssh: {detail}"))
    return ready, pending


def apply_accounts(ctx: Context, servers: Sequence[str], report: Report) -> Carried:
    """Create/update (and remove) bubbles on these servers, where they are ready."""
    catalog, _ = render_current(ctx)
    ready, pending = probe(ctx, catalog, servers)
    if ready:
        converge(ctx, catalog, list(ready), report, ssh_timeout=30)
        finish_removals(ctx, catalog, list(ready), report)
    return Carried(list(ready), pending)


def apply_limits(ctx: Context, servers: Sequence[str], report: Report) -> Carried:
    """Limits only, live: slice properties and qgroups, no process restarted."""
    catalog, _ = render_current(ctx)
    ready, pending = probe(ctx, catalog, servers)
    if ready:
        playbook(ctx, "limits.yml", ready, report)
    return Carried(list(ready), pending)


def remove_account(ctx: Context, name: str, purge: bool, report: Report) -> Carried:
    """Record the removal in the catalog, remove the bubble from its server (archiving files
    and databases unless `purge`), then the account from the catalog. Until the server
    confirmed it the account stays in the catalog as `removing`, with its domains: the same
    command (or `bubble apply`) finishes the job."""
    server_name = delete_account(ctx, name, purge).server
    catalog, _ = render_current(ctx)
    if name not in catalog.accounts:  # a converge running meanwhile finished it
        return Carried([server_name])
    server = catalog.servers[server_name]
    # Never created: no bubble can exist anywhere.
    if not server_address(server_name, server, recorded_addresses(ctx.engine)):
        finish_removals(ctx, catalog, [server_name], report)
        return Carried()
    ready, pending = probe(ctx, catalog, [server_name])
    if ready:
        leaving = {
            account_name: removal_vars(account)
            for account_name, account in sorted(catalog.accounts_on(server_name).items())
            if account.state.leaving
        }
        # The leaving accounts themselves, not only the rendered inventory: what this run
        # removes is exactly what finish_removals then deletes from the catalog.
        playbook(ctx, "remove.yml", ready, report, extra_vars={"account_targets": leaving})
        finish_removals(ctx, catalog, list(ready), report)
    return Carried(list(ready), pending)
