"""Ansible on live servers: the toolkit version each server was fully converged with, the
per-server locks, one playbook run, and `converge` (site.yml where a server needs the whole
baseline, accounts.yml elsewhere)."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from glue.ansible import PlaybookResult, run_playbook
from glue.catalog import Catalog
from glue.fleet_settings import fleet_version
from glue.locks import server_lock
from glue.models import Server, ServerState
from glue.paths import TOOLKIT_DIR, inventory_sources, state_dir
from glue.remote import RemoteError, connection_inventory, last_line, ssh_argv
from glue.services.context import Context

Report = Callable[[str], None]
CONVERGED_MARK = "/etc/bubblehost/converged"
# What a full converge installs: a change to any of it is a new toolkit version.
TOOLKIT_PARTS = ("roles", "playbooks", "inventory/group_vars", "ansible.cfg")


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
    argv = ssh_argv(ctx, name, server, f"cat {CONVERGED_MARK} 2>/dev/null; exit 0")
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
    done = subprocess.run(ssh_argv(ctx, name, server, remote), capture_output=True,
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
            [*inventory_sources(ctx.root), connection],
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
    result = ApplyResult(toolkit=fleet_version(toolkit_version(), ctx.root))
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
