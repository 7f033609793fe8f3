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
apply (except the addresses cloud servers learn), so running it again finishes the job.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from glue.ansible import PlaybookResult, run_playbook
from glue.catalog import Catalog, save_servers
from glue.errors import BubbleError
from glue.locks import server_lock
from glue.models import Server, ServerState
from glue.paths import TOOLKIT_DIR, inventory_dir, state_dir, tfvars_dir
from glue.remote import RemoteError, connection_inventory, last_line, public_key, ssh_argv
from glue.services.context import Context
from glue.services.root import render, render_current
from glue.terraform import Terraform

Report = Callable[[str], None]
CONVERGED_MARK = "/etc/bubblehost/converged"
PROVIDERS = ("lab", "hcloud", "aws")
# What a full converge installs: a change to any of it is a new toolkit version.
TOOLKIT_PARTS = ("roles", "playbooks", "inventory/group_vars", "ansible.cfg")
# What a plan does to a server, least harmful first: the worst of its resources' actions wins.
ACTIONS = ("update", "create", "replace", "destroy")
LOSES_DATA = ("replace", "destroy")


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)  # never converged: the full site.yml
    upgraded: list[str] = field(default_factory=list)  # another toolkit (or --full): site.yml
    updated: list[str] = field(default_factory=list)  # accounts.yml
    changed: dict[str, int] = field(default_factory=dict)  # Ansible changed count per server
    toolkit: str = ""  # the toolkit version now marked on the fully converged servers


# -- the toolkit version ----------------------------------------------------------------------


def _toolkit_files(toolkit: Path) -> list[Path]:
    files: list[Path] = []
    for part in TOOLKIT_PARTS:
        path = toolkit / part
        if path.is_file():
            files.append(path)
        for folder, dirs, names in os.walk(path):  # links to directories are not followed
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [Path(folder, name) for name in names if Path(folder, name).is_file()]
    return sorted(files, key=lambda p: p.relative_to(toolkit).as_posix())


@cache
def toolkit_version(toolkit: Path = TOOLKIT_DIR) -> str:
    """A hash of the names and bytes of every file a full converge uses (TOOLKIT_PARTS):
    the same for every checkout of the same toolkit (no times, modes or walk order), computed
    once per process."""
    digest = hashlib.sha256()
    for path in _toolkit_files(toolkit):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(toolkit).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


# -- Terraform: plan, check, apply ------------------------------------------------------------


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


def stack_variables(ctx: Context, provider: str) -> dict[str, Any]:
    variables: dict[str, Any] = {"ssh_public_key": public_key(ctx.root)}
    if not (tfvars_dir(ctx.root) / f"{provider}.tfvars.json").exists():
        variables["servers"] = {}
    if provider == "lab":
        variables["bubble_command"] = bubble_command()
    return variables


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
        for provider in stacks_in_use(ctx, catalog):
            plan.stacks.append(plan_stack(ctx, provider, plan.directory, report))
        refuse_data_loss(plan, catalog)
    except BaseException:
        plan.close()
        raise
    return plan


def plan_stack(ctx: Context, provider: str, directory: Path, report: Report) -> StackPlan:
    tf = terraform_for(ctx, provider)
    var_file = tfvars_dir(ctx.root) / f"{provider}.tfvars.json"
    report(f"terraform {provider}: plan")
    tf.init()
    file = directory / f"{provider}.tfplan"
    pending = tf.plan(var_file if var_file.exists() else None, stack_variables(ctx, provider), file)
    if not pending:
        return StackPlan(provider, file, pending)
    shown = tf.show(file)
    return StackPlan(provider, file, pending, server_actions(shown), other_losses(shown))


def apply_stack(ctx: Context, stack: StackPlan, report: Report) -> dict[str, str]:
    """Apply one stack's saved plan; return the address of each of its servers."""
    tf = terraform_for(ctx, stack.provider)
    if stack.provider == "lab":
        from glue.lab import up

        up()
        report("lab: bridge and image ready")
    if stack.pending:
        report(f"terraform {stack.provider}: apply")
        tf.apply(stack.file)
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


def record_addresses(ctx: Context, addresses: dict[str, str]) -> Catalog:
    with ctx.editing() as catalog:  # the catalog as it is now, not as it was planned
        updated = with_addresses(catalog, addresses)
        if updated != catalog:
            save_servers(updated)
            render(ctx, updated)
    return updated


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
    addresses: dict[str, str] = {}
    for stack in plan.stacks:
        addresses.update(apply_stack(ctx, stack, report))
    catalog = record_addresses(ctx, addresses)
    result = converge(ctx, catalog, list(live_servers(catalog, only)), report, full=full)
    finish_removals(ctx, catalog, result.created + result.upgraded + result.updated, report)
    return result


def destroy_stack(ctx: Context, provider: str, report: Report) -> bool:
    """`terraform destroy` of one stack of this root (False when it has no state)."""
    tf = terraform_for(ctx, provider)
    if not tf.state_file.exists():
        return False
    variables = {**stack_variables(ctx, provider), "servers": {}}
    report(f"terraform {provider}: destroy")
    tf.init()
    tf.destroy(None, variables)
    return True


# -- Ansible ----------------------------------------------------------------------------------


def live_servers(catalog: Catalog, only: Sequence[str] | None = None) -> dict[str, Server]:
    return {
        name: server
        for name, server in sorted(catalog.servers.items())
        if server.state is not ServerState.DOWN and (only is None or name in only)
    }


def converged_version(ctx: Context, name: str, server: Server, timeout: float = 120) -> str | None:
    """The toolkit version in the server's converged mark ("" for a mark without one, None
    when the server was never converged). The same ssh call proves the server answers: it is
    tried at least once and again until `timeout` while ssh itself fails (exit 255)."""
    argv = ssh_argv(ctx.root, name, server, f"cat {CONVERGED_MARK} 2>/dev/null; exit 0")
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            break
        if time.monotonic() >= deadline:
            within = f" within {timeout:.0f} s" if timeout else ""
            raise RemoteError(f"server {name}: ssh did not answer{within} ({last_line(done)})")
        time.sleep(1)
    if not done.stdout.strip():
        return None
    fields = dict(line.partition(": ")[::2] for line in done.stdout.splitlines())
    return fields.get("toolkit", "").strip()


def mark_converged(ctx: Context, name: str, server: Server, version: str) -> None:
    mark = shlex.quote(CONVERGED_MARK)
    remote = (
        f"mkdir -p {shlex.quote(str(Path(CONVERGED_MARK).parent))} && "
        f"printf 'toolkit: %s\\nconverged_at: %s\\n' {shlex.quote(version)} "
        f'"$(date -u +%FT%TZ)" > {mark}.new && mv {mark}.new {mark}'
    )
    done = subprocess.run(ssh_argv(ctx.root, name, server, remote), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)  # fmt: skip
    if done.returncode != 0:
        raise RemoteError(f"server {name}: could not write {CONVERGED_MARK} ({last_line(done)})")


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


def converge(
    ctx: Context,
    catalog: Catalog,
    names: Sequence[str],
    report: Report,
    ssh_timeout: float = 120,
    full: bool = False,
) -> ApplyResult:
    """Ansible only: site.yml where a server was never converged, was converged by another
    toolkit version, or `full` is asked for; accounts.yml elsewhere."""
    servers = live_servers(catalog, names)
    result = ApplyResult(toolkit=toolkit_version())
    for name, server in servers.items():
        report(f"{name}: waiting for ssh")
        version = converged_version(ctx, name, server, timeout=ssh_timeout)
        if version is None:
            result.created.append(name)
        elif full or version != result.toolkit:
            result.upgraded.append(name)
        else:
            result.updated.append(name)
    if result.created or result.upgraded:
        whole = {n: servers[n] for n in result.created + result.upgraded}
        outcome = playbook(ctx, "site.yml", whole, report)
        for name, server in whole.items():
            mark_converged(ctx, name, server, result.toolkit)
            result.changed[name] = outcome.changed(name)
    if result.updated:
        outcome = playbook(ctx, "accounts.yml", {n: servers[n] for n in result.updated}, report)
        result.changed.update({n: outcome.changed(n) for n in result.updated})
    return result
