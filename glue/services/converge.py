"""The one converge service: an already-loaded catalog, a target (servers, or accounts: their
servers), an operation -> the touched servers' inventory rendered, their locks taken
(waiting, or try-lock: a busy server is reported, not waited for), Ansible run, a typed
result per server. `bubble apply`, the account and plan commands, and later the scaler and
the panel all come through `converge`.

Before Ansible each server is asked whether it is ready (one ssh call, `Runner.probe`): a
server not built or not configured yet, down in the catalog, or not answering gets nothing
now and is reported as pending; the change waits in the catalog for `bubble apply`. `bubble
apply` instead waits for ssh (servers it just created) and fails when one never answers."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from glue.ansible import PlaybookResult, run_playbook
from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.fleet_settings import fleet_version
from glue.locks import LockTimeout, catalog_lock, server_lock
from glue.models import Server, ServerState
from glue.paths import TOOLKIT_DIR, inventory_sources, state_dir
from glue.remote import RemoteError, connection_inventory, last_line, ssh_argv
from glue.render.inventory import removal_vars
from glue.services.accounts import finish_removals
from glue.services.backups import prepare as prepare_backups
from glue.services.context import Context
from glue.services.root import render
from glue.state.addresses import address_of

Report = Callable[[str], None]
CONVERGED_MARK = "/etc/bubblehost/converged"
# What a full converge installs: a change to any of it is a new toolkit version.
TOOLKIT_PARTS = ("roles", "playbooks", "inventory/group_vars", "ansible.cfg")


PROBE_SECONDS = 20  # ssh's own ConnectTimeout (5-10 s) ends it first when nothing answers
READY_SSH_SECONDS = 30  # reading the converged mark of a server the probe found ready


class Operation(enum.Enum):
    FULL = "full"  # site.yml on every target (`bubble apply --full`)
    ACCOUNTS = "accounts"  # accounts.yml; site.yml where a server needs the whole baseline
    LIMITS = "limits"  # limits.yml: slice properties and qgroups, live, nothing restarted
    REMOVE = "remove"  # remove.yml: the bubbles of the accounts being removed


Why = Literal["unbuilt", "unconfigured", "down", "silent", "busy"]


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
            "busy": f"server {self.server} is busy ({self.detail})",
        }[self.why]


@dataclass
class ConvergeResult:
    """Per server: done (created, upgraded or updated, with Ansible's changed count), or
    pending with the reason. A failed playbook raises (AnsibleError, RemoteError) naming the
    server, the step and why: the change stays in the catalog for the next run."""

    created: list[str] = field(default_factory=list)  # never converged: the full site.yml
    upgraded: list[str] = field(default_factory=list)  # another toolkit (or FULL): site.yml
    updated: list[str] = field(default_factory=list)  # the operation's own playbook
    changed: dict[str, int] = field(default_factory=dict)  # Ansible changed count per server
    pending: list[Pending] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # accounts whose removal finished
    rendered: list[Path] = field(default_factory=list)  # generated files written
    toolkit: str = ""  # the toolkit version marked on the fully converged servers

    @property
    def done(self) -> list[str]:
        """The servers that have the change."""
        return sorted(self.created + self.upgraded + self.updated)


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


# -- the servers, over ssh ----------------------------------------------------------------


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
    return mark_version(done.stdout)


def mark_version(mark: str) -> str | None:
    """The toolkit version a converged mark's text names: "" for a mark without one (written
    before marks carried versions), None for no mark at all."""
    if not mark.strip():
        return None
    fields = dict(line.partition(": ")[::2] for line in mark.splitlines())
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


def built(ctx: Context, name: str, server: Server) -> bool:
    """Whether the server exists: it has an address and its provider's Terraform state has
    it (the stack's `servers` output)."""
    from glue.services.fleet_plan import terraform_for  # fleet_plan imports this module

    if not address_of(ctx.engine, name, server):
        return False
    try:
        state = json.loads(terraform_for(ctx, server.provider).state_file.read_text("utf-8"))
        return name in state["outputs"]["servers"]["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def probe(ctx: Context, name: str, server: Server) -> Pending | None:
    """None when the server is ready for a change (converged, answering), else why not."""
    if server.state is ServerState.DOWN:
        return Pending(name, "down")
    if not address_of(ctx.engine, name, server):
        return Pending(name, "unbuilt")
    argv = ssh_argv(ctx, name, server, f"test -f {CONVERGED_MARK}")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=PROBE_SECONDS
        )
    except subprocess.TimeoutExpired:
        return Pending(name, "silent", f"no answer within {PROBE_SECONDS} s")
    if done.returncode == 0:
        return None
    if done.returncode == 1:  # ssh worked, the mark is missing: never converged
        return Pending(name, "unconfigured")
    if not built(ctx, name, server):
        return Pending(name, "unbuilt")
    lines = done.stderr.strip().splitlines()
    return Pending(name, "silent", f"ssh: {lines[-1] if lines else f'ssh exit {done.returncode}'}")


def playbook(
    ctx: Context,
    name: str,
    servers: dict[str, Server],
    report: Report,
    extra_vars: dict[str, Any] | None = None,
) -> PlaybookResult:
    """Run one playbook on `servers` with the generated inventory (the caller holds their
    locks: `converge` does)."""
    logs = state_dir(ctx.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The backup roles copy their keys, passphrases and authorized_keys from here.
    backup_dir = prepare_backups(ctx.root, ctx.catalog())
    with connection_inventory(ctx.root, servers) as connection:
        report(f"ansible {name} on {', '.join(servers)}")
        return run_playbook(
            name,
            [*inventory_sources(ctx.root), connection],
            limit=list(servers),
            extra_vars=extra_vars,
            on_task=lambda task: report(f"  {task}"),
            log_path=logs / "ansible.jsonl",
            # the usage_agent role's InfluxDB; where the backup roles read their secrets
            env={
                **ctx.settings.influx_environment(),
                "BUBBLE_BACKUP_DIR": str(backup_dir),
                **_STRATEGY.get(name, {}),
            },
        )


# Mitogen (ansible.cfg) starts one interpreter per server per run, which a long playbook repays
# many times over; the limits push (the scaler's reaction) is a handful of tasks, and Ansible's
# own strategy is faster there: 3.7 s against 5.2 s a push, A/B on one lab server.
_STRATEGY = {"limits.yml": {"ANSIBLE_STRATEGY": "linear"}}


class Runner(Protocol):
    """What converge does on the servers: the seam a test replaces with a recording fake."""

    def probe(self, name: str, server: Server) -> Pending | None: ...

    def converged_version(self, name: str, server: Server, timeout: float) -> str | None: ...

    def mark_converged(self, name: str, server: Server, version: str) -> None: ...

    def play(
        self, name: str, servers: dict[str, Server], extra_vars: dict[str, Any] | None
    ) -> PlaybookResult: ...


@dataclass
class SshRunner:
    """The real servers: ssh and ansible-playbook."""

    ctx: Context
    report: Report

    def probe(self, name: str, server: Server) -> Pending | None:
        return probe(self.ctx, name, server)

    def converged_version(self, name: str, server: Server, timeout: float) -> str | None:
        return converged_version(self.ctx, name, server, timeout)

    def mark_converged(self, name: str, server: Server, version: str) -> None:
        mark_converged(self.ctx, name, server, version)

    def play(
        self, name: str, servers: dict[str, Server], extra_vars: dict[str, Any] | None
    ) -> PlaybookResult:
        return playbook(self.ctx, name, servers, self.report, extra_vars)


# -- the service ----------------------------------------------------------------------------


@contextmanager
def locked(ctx: Context, names: Iterable[str], wait: bool = True) -> Iterator[list[Pending]]:
    """Hold the locks of `names` (one global order: two convergers cannot deadlock). Waiting,
    or (`wait` False) try-lock: a server being changed by another process is skipped and
    yielded as pending "busy"."""
    busy: list[Pending] = []
    with ExitStack() as stack:
        for name in sorted(names):
            try:
                lock = server_lock(ctx.root, name) if wait else server_lock(ctx.root, name, 0)
                stack.enter_context(lock)
            except LockTimeout as exc:
                if wait:
                    raise
                busy.append(Pending(name, "busy", str(exc).partition(": ")[2]))
        yield busy


def target_servers(
    catalog: Catalog, servers: Iterable[str] = (), accounts: Iterable[str] = ()
) -> list[str]:
    """The servers a change touches: those named, and those of the accounts named."""
    touched = set(servers) | {catalog.accounts[name].server for name in accounts}
    unknown = sorted(touched - set(catalog.servers))
    if unknown:
        raise BubbleError(f"unknown server {unknown[0]!r}")
    return sorted(touched)


def converge(
    ctx: Context,
    catalog: Catalog,
    operation: Operation,
    report: Report,
    *,
    servers: Iterable[str] = (),
    accounts: Iterable[str] = (),
    wait: bool = True,
    ssh_wait: float | None = None,
    runner: Runner | None = None,
) -> ConvergeResult:
    """Carry `catalog` to the target servers (`servers`, and those of `accounts`).

    `catalog` is the current one, loaded under the catalog lock just before (or written under
    it by the caller's change): the touched servers' files are rendered from it, under that
    lock. `wait` False: a server whose lock another process holds is pending "busy" (the
    scaler). `ssh_wait` None: a server not ready at once is pending (account changes);
    seconds: wait that long for each live server's ssh and fail if it never answers (`bubble
    apply`, after creating servers). Where the operation removes accounts (ACCOUNTS, FULL,
    REMOVE), the removals the servers confirmed leave the catalog afterwards."""
    runner = runner or SshRunner(ctx, report)
    names = target_servers(catalog, servers, accounts)
    result = ConvergeResult(toolkit=fleet_version(toolkit_version(), ctx.root))
    with catalog_lock(ctx.root):
        result.rendered = render(ctx, catalog, names)
    if ssh_wait is None:
        ready: dict[str, Server] = {}
        for name in names:
            pending = runner.probe(name, catalog.servers[name])
            if pending is None:
                ready[name] = catalog.servers[name]
            else:
                result.pending.append(pending)
    else:
        ready = live_servers(catalog, names)
    with locked(ctx, ready, wait) as busy:
        result.pending += busy
        ready = {n: s for n, s in ready.items() if n not in {p.server for p in busy}}
        if ready and operation is Operation.LIMITS:
            _limits(runner, ready, result)
        elif ready and operation is Operation.REMOVE:
            _remove(runner, catalog, ready, result)
        elif ready:
            timeout = READY_SSH_SECONDS if ssh_wait is None else ssh_wait
            full = operation is Operation.FULL
            _converge_accounts(runner, full, ready, result, timeout, report)
        if ready and operation is not Operation.LIMITS:
            result.removed = finish_removals(ctx, catalog, list(ready), report)
    result.pending.sort(key=lambda p: p.server)
    return result


def _limits(runner: Runner, servers: dict[str, Server], result: ConvergeResult) -> None:
    outcome = runner.play("limits.yml", servers, None)
    result.updated += list(servers)
    result.changed.update({n: outcome.changed(n) for n in servers})


def _remove(
    runner: Runner, catalog: Catalog, servers: dict[str, Server], result: ConvergeResult
) -> None:
    for name in servers:  # each server is told only of its own leaving accounts
        leaving = {
            account_name: removal_vars(account)
            for account_name, account in sorted(catalog.accounts_on(name).items())
            if account.state.leaving
        }
        # The leaving accounts themselves, not only the rendered inventory: what this run
        # removes is exactly what finish_removals then deletes from the catalog.
        extra_vars = {"account_targets": leaving}
        outcome = runner.play("remove.yml", {name: servers[name]}, extra_vars)
        result.updated.append(name)
        result.changed[name] = outcome.changed(name)


def _converge_accounts(
    runner: Runner,
    full: bool,
    servers: dict[str, Server],
    result: ConvergeResult,
    ssh_timeout: float,
    report: Report,
) -> None:
    """site.yml where a server was never converged, was converged by another toolkit
    version, or FULL is asked for; accounts.yml elsewhere."""
    for name, server in servers.items():
        report(f"{name}: waiting for ssh")
        version = runner.converged_version(name, server, ssh_timeout)
        if version is None:
            result.created.append(name)
        elif full or version != result.toolkit:
            result.upgraded.append(name)
        else:
            result.updated.append(name)
    if result.created or result.upgraded:
        whole = {n: servers[n] for n in result.created + result.upgraded}
        outcome = runner.play("site.yml", whole, None)
        for name, server in whole.items():
            runner.mark_converged(name, server, result.toolkit)
            result.changed[name] = outcome.changed(name)
    if result.updated:
        outcome = runner.play("accounts.yml", {n: servers[n] for n in result.updated}, None)
        result.changed.update({n: outcome.changed(n) for n in result.updated})
