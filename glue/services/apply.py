"""`bubble apply`: make the servers what the catalog says.

1. render inventory and Terraform variables;
2. per provider stack in use, `terraform apply` (servers created or destroyed);
3. wait until every live server answers ssh;
4. Ansible: a server never converged gets the full `site.yml`, the others `accounts.yml`
   (idempotent: only what changed changes). Each server's lock is held while Ansible runs.

A failure stops with one line naming the server and the step; the catalog is untouched by
apply, so running it again finishes the job.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue.ansible import PlaybookResult, run_playbook
from glue.catalog import Catalog, save_servers
from glue.locks import server_lock
from glue.models import Server, ServerState
from glue.paths import TOOLKIT_DIR, inventory_dir, state_dir, tfvars_dir
from glue.remote import connection_inventory, public_key, ssh_argv, wait_for_ssh
from glue.services.context import Context
from glue.services.root import render, render_current
from glue.terraform import Terraform

Report = Callable[[str], None]
CONVERGED_MARK = "/etc/bubblehost/converged"
PROVIDERS = ("lab", "hcloud", "aws")


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)  # servers that got the full baseline
    updated: list[str] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)  # Ansible changed count per server


def bubble_command() -> list[str]:
    """How Terraform's lab stack calls back into this CLI (same interpreter, same venv)."""
    return [sys.executable, "-m", "glue.cli.main"]


def terraform_for(ctx: Context, provider: str) -> Terraform:
    return Terraform(TOOLKIT_DIR / "terraform" / "stacks" / provider,
                     state_dir(ctx.root) / "terraform" / provider)  # fmt: skip


def stacks_in_use(ctx: Context, catalog: Catalog) -> list[str]:
    """Providers with servers in the catalog, or with state left (their servers must go)."""
    used = {s.provider for s in catalog.servers.values()}
    return [p for p in PROVIDERS if p in used or terraform_for(ctx, p).state_file.exists()]


def terraform_apply(ctx: Context, provider: str, report: Report) -> dict[str, str]:
    """Apply one stack; return the address of each of its servers (its `servers` output)."""
    tf = terraform_for(ctx, provider)
    var_file = tfvars_dir(ctx.root) / f"{provider}.tfvars.json"
    variables: dict[str, Any] = {"ssh_public_key": public_key(ctx.root)}
    if not var_file.exists():
        variables["servers"] = {}
    if provider == "lab":
        variables["bubble_command"] = bubble_command()
        from glue.lab import up

        up()
        report("lab: bridge and image ready")
    report(f"terraform {provider}: init")
    tf.init()
    report(f"terraform {provider}: apply")
    tf.apply(var_file if var_file.exists() else None, variables)
    servers = tf.output().get("servers") or {}
    return {name: str(out.get("address") or "") for name, out in servers.items()}


def with_addresses(catalog: Catalog, addresses: dict[str, str]) -> Catalog:
    """The catalog with each server's address as its provider reported it (cloud servers
    learn theirs at creation; Terraform never writes the inventory, glue does)."""
    for name, address in sorted(addresses.items()):
        server = catalog.servers.get(name)
        if server is not None and address and server.address != address:
            catalog = catalog.with_server(name, server.model_copy(update={"address": address}))
    return catalog


def live_servers(catalog: Catalog, only: Sequence[str] | None = None) -> dict[str, Server]:
    return {
        name: server
        for name, server in sorted(catalog.servers.items())
        if server.state is not ServerState.DOWN and (only is None or name in only)
    }


def is_converged(ctx: Context, name: str, server: Server) -> bool:
    argv = ssh_argv(ctx.root, name, server, f"test -f {CONVERGED_MARK}")
    return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL).returncode == 0


def mark_converged(ctx: Context, name: str, server: Server) -> None:
    remote = f"mkdir -p {Path(CONVERGED_MARK).parent} && date -u +%FT%TZ > {CONVERGED_MARK}"
    subprocess.run(ssh_argv(ctx.root, name, server, remote), check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip


@contextmanager
def locked(ctx: Context, names: Sequence[str]) -> Iterator[None]:
    with ExitStack() as stack:
        for name in sorted(names):  # one global order: two appliers cannot deadlock
            stack.enter_context(server_lock(ctx.root, name))
        yield


def playbook(
    ctx: Context,
    name: str,
    servers: dict[str, Server],
    report: Report,
    extra_vars: dict[str, Any] | None = None,
) -> PlaybookResult:
    """Run one playbook on `servers` (under their locks) with the generated inventory."""
    logs = state_dir(ctx.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with connection_inventory(ctx.root, servers) as connection, locked(ctx, list(servers)):
        report(f"ansible {name} on {', '.join(servers)}")
        return run_playbook(
            name,
            [inventory_dir(ctx.root) / "hosts.yml", connection],
            limit=list(servers),
            extra_vars=extra_vars,
            on_task=lambda task: report(f"  {task}"),
            log_path=logs / "ansible.jsonl",
        )


def apply(ctx: Context, report: Report, only: Sequence[str] | None = None) -> ApplyResult:
    """Terraform for every stack in use, then Ansible on the live servers (or `only` those);
    accounts being removed leave the catalog once their server confirmed it."""
    from glue.services.accounts import finish_removals

    catalog, _ = render_current(ctx)
    addresses: dict[str, str] = {}
    for provider in stacks_in_use(ctx, catalog):
        addresses.update(terraform_apply(ctx, provider, report))
    if with_addresses(catalog, addresses) != catalog:
        with ctx.editing() as current:  # the catalog as it is now, not as it was read
            catalog = with_addresses(current, addresses)
            save_servers(catalog)
            render(ctx, catalog)
    result = converge(ctx, catalog, list(live_servers(catalog, only)), report)
    finish_removals(ctx, catalog, result.created + result.updated, report)
    return result


def converge(
    ctx: Context, catalog: Catalog, names: Sequence[str], report: Report, ssh_timeout: float = 120
) -> ApplyResult:
    """Ansible only: site.yml where a server was never converged, accounts.yml elsewhere."""
    servers = live_servers(catalog, names)
    result = ApplyResult()
    for name, server in servers.items():
        report(f"{name}: waiting for ssh")
        wait_for_ssh(ctx.root, name, server, timeout=ssh_timeout)
        (result.updated if is_converged(ctx, name, server) else result.created).append(name)
    if result.created:
        new = {n: servers[n] for n in result.created}
        outcome = playbook(ctx, "site.yml", new, report)
        for name, server in new.items():
            mark_converged(ctx, name, server)
            result.changed[name] = outcome.changed(name)
    if result.updated:
        outcome = playbook(ctx, "accounts.yml", {n: servers[n] for n in result.updated}, report)
        result.changed.update({n: outcome.changed(n) for n in result.updated})
    return result


def destroy_stack(ctx: Context, provider: str, report: Report) -> bool:
    """`terraform destroy` of one stack of this root (False when it has no state)."""
    tf = terraform_for(ctx, provider)
    if not tf.state_file.exists():
        return False
    variables: dict[str, Any] = {"ssh_public_key": public_key(ctx.root), "servers": {}}
    if provider == "lab":
        variables["bubble_command"] = bubble_command()
    report(f"terraform {provider}: destroy")
    tf.init()
    tf.destroy(None, variables)
    return True
