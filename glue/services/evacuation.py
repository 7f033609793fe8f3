"""Emptying a server (`bubble server evacuate`): live, every account moved where placement
puts it; or, the server being dead (`--from-backup`), every account restored from its latest
backup onto the server placement chooses, what was lost (the time since that backup)
reported, and the server marked down."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from glue.backup.agent import DB_RE
from glue.catalog import Catalog, save_account
from glue.errors import BubbleError
from glue.limits import effective_base
from glue.models import ServerRole, ServerState
from glue.paths import private_dir, state_dir
from glue.placement import choose_server
from glue.remote import last_line, ssh_options
from glue.services import backups, servers
from glue.services.context import Context
from glue.services.moves import (
    Ends,
    Report,
    address,
    carry,
    copy_argv,
    load_database,
    move_account,
    run_on,
)
from glue.state.moves import open_move


def _web_server(catalog: Catalog, name: str) -> None:
    server = servers.require_server(catalog, name)
    if server.role is not ServerRole.WEB:
        raise BubbleError(f"server {name!r} is a backup server: it has no accounts")


def _staying_accounts(catalog: Catalog, name: str) -> list[str]:
    return sorted(n for n, a in catalog.accounts_on(name).items() if not a.state.leaving)


def _placed(ctx: Context, catalog: Catalog, name: str) -> str:
    """Where placement puts the account (never a server without room, nor the drained one)."""
    account = catalog.accounts[name]
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    return choose_server(catalog, base, ctx.today).server


def evacuate(ctx: Context, name: str, report: Report) -> list[dict[str, Any]]:
    """Drain `name` (placement skips it from now on), then move each of its accounts live;
    each keeps being proxied from `name` until `bubble account move A --finish`."""
    catalog = ctx.catalog()
    _web_server(catalog, name)
    if catalog.servers[name].state is ServerState.ACTIVE:
        servers.set_state(ctx, name, ServerState.DRAINING)
    rows = []
    for account in _staying_accounts(catalog, name):
        catalog = ctx.catalog()  # the moves so far count in placement
        move = open_move(ctx.engine, account)
        target = move.target if move else _placed(ctx, catalog, account)
        report(f"{account}: to {target}")
        rows.append(move_account(ctx, account, target, report))
    return rows


def evacuate_from_backup(ctx: Context, name: str, report: Report) -> list[dict[str, Any]]:
    """`name` is dead: marked down, then each account restored from its latest archive on
    the server placement chooses (the catalog switched first, its bubble converged there)."""
    catalog = ctx.catalog()
    _web_server(catalog, name)
    servers.set_state(ctx, name, ServerState.DOWN)
    rows = []
    for account in _staying_accounts(catalog, name):
        archives = backups.list_archives(ctx, account)
        if not archives:
            rows.append({"account": account, "ok": False, "error": "no backup: nothing to restore"})
            continue
        latest = archives[-1]
        catalog = ctx.catalog()
        target = _placed(ctx, catalog, account)
        report(f"{account}: restoring {latest['archive']} on {target}")
        with ctx.editing() as current:
            moved = current.accounts[account].model_copy(update={"server": target})
            save_account(current.with_account(account, moved), account)
        carry(ctx, ctx.catalog(), target, report)
        restored = _restore(ctx, name, Ends(ctx.catalog(), account, name, target), latest)
        taken = dt.datetime.fromisoformat(latest["time"]).replace(tzinfo=dt.UTC)
        lost = int((dt.datetime.now(dt.UTC) - taken).total_seconds())
        rows.append({"account": account, "ok": True, "to": target, "archive": latest["archive"],
                     "address": address(ctx, ctx.catalog(), target), "lost_seconds": lost,
                     **restored})  # fmt: skip
    return rows


def _restore(ctx: Context, dead: str, ends: Ends, latest: dict[str, Any]) -> dict[str, Any]:
    """The archive extracted on the control plane (its own key reads every repository; the
    target's key reads only its own), its files pushed to the target's home owned by the
    account, its dumps loaded as the account's database user."""
    catalog = ends.catalog
    repository = backups.repository(ctx, catalog, dead)
    work = private_dir(state_dir(ctx.root) / "restores")
    with tempfile.TemporaryDirectory(prefix=f"{ends.account}-", dir=work) as tmp:
        into = Path(tmp)
        files = latest["files"]  # srv/ACCOUNT, as the agent archived it
        dumps = f"var/lib/bubblehost/backup/{ends.account}/databases"
        # A pattern that matches nothing is an error to borg: the dumps only when it has some.
        repository.extract(latest["archive"], [files, *([dumps] if latest["databases"] else [])],
                           into)  # fmt: skip
        # Nothing of the tenant runs there while root writes its home.
        run_on(ctx, ends, ends.target, f"systemctl stop acct-{ends.account}.slice")
        home = into / files
        tops = [str(home / top) for top in ("www", "mail", "tmp") if (home / top).is_dir()]
        target = catalog.servers[ends.target]
        rsh = shlex.join(["ssh", *ssh_options(ctx.root, target)])
        ip = address(ctx, catalog, ends.target)
        owner = f"*:{ends.account}"
        argv = copy_argv(rsh, tops, f"root@{ip}:{ends.home}/", f"--usermap={owner}",
                         f"--groupmap={owner}")  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise BubbleError(
                f"restoring {ends.account}'s files on {ends.target}: {last_line(done)}"
            )
        loaded = []
        for dump in sorted((into / dumps).glob("*.sql")) if (into / dumps).is_dir() else []:
            if DB_RE.fullmatch(dump.stem) and dump.stem.startswith(ends.account + "_"):
                load_database(ctx, ends, dump.stem, ["cat", str(dump)])
                loaded.append(dump.stem)
    run_on(ctx, ends, ends.target, f"systemctl start php-fpm-acct@{ends.account}.service")
    return {"databases": loaded, "mailboxes": latest.get("mailboxes", [])}
