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
    install_mail_logins,
    load_database,
    move_account,
    run_on,
)
from glue.state.moves import open_move, set_phase, start_move


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
    the server placement chooses, one at a time; one that fails is reported and the rest go
    on. Run again after a failure, it skips the accounts restored already (the catalog names
    their new server: switched only once restored) and resumes each unfinished one on the
    server it was going to (its row in `account_moves`)."""
    catalog = ctx.catalog()
    _web_server(catalog, name)
    servers.set_state(ctx, name, ServerState.DOWN)
    rows = []
    for account in _staying_accounts(catalog, name):
        try:
            rows.append(_from_backup(ctx, name, account, report))
        except BubbleError as exc:
            report(f"{account}: {exc}")
            rows.append({"account": account, "ok": False, "error": str(exc)})
    return rows


def _from_backup(ctx: Context, dead: str, account: str, report: Report) -> dict[str, Any]:
    """One account restored from its latest archive: its bubble converged on the target (the
    catalog as it will be), the archive restored there, then the catalog switched (one write)."""
    archives = backups.list_archives(ctx, account)
    if not archives:
        return {"account": account, "ok": False, "error": "no backup: nothing to restore"}
    latest = archives[-1]
    move = open_move(ctx.engine, account)
    if move is None:
        move = start_move(ctx.engine, account, dead, _placed(ctx, ctx.catalog(), account))
    elif move.source != dead or move.phase == "switched":
        raise BubbleError(
            f"an open move from {move.source} to {move.target}: finish it "
            f"(`bubble account move {account} --finish`), then run this again"
        )
    report(f"{account}: restoring {latest['archive']} on {move.target}")
    catalog = ctx.catalog()
    staged = catalog.with_account(
        account, catalog.accounts[account].model_copy(update={"server": move.target})
    )
    carry(ctx, staged, move.target, report)
    restored = _restore(ctx, dead, Ends(staged, account, dead, move.target), latest)
    with ctx.editing() as current:
        if current.accounts[account].server != dead:
            raise BubbleError(f"account {account!r} was put on "
                              f"{current.accounts[account].server} meanwhile")  # fmt: skip
        moved = current.accounts[account].model_copy(update={"server": move.target})
        save_account(current.with_account(account, moved), account)
    set_phase(ctx.engine, move, "finished")
    taken = dt.datetime.fromisoformat(latest["time"]).replace(tzinfo=dt.UTC)
    lost = int((dt.datetime.now(dt.UTC) - taken).total_seconds())
    return {"account": account, "ok": True, "to": move.target, "archive": latest["archive"],
            "address": address(ctx, staged, move.target), "lost_seconds": lost,
            **restored}  # fmt: skip


def _restore(ctx: Context, dead: str, ends: Ends, latest: dict[str, Any]) -> dict[str, Any]:
    """The archive extracted on the control plane (its own key reads every repository; the
    target's key reads only its own), its files pushed to the target's home owned by the
    account, its dumps loaded as the account's database user, its mailbox logins installed."""
    catalog = ends.catalog
    repository = backups.repository(ctx, catalog, dead)
    work = private_dir(state_dir(ctx.root) / "restores")
    with tempfile.TemporaryDirectory(prefix=f"{ends.account}-", dir=work) as tmp:
        into = Path(tmp)
        files = latest["files"]  # srv/ACCOUNT, as the agent archived it
        dumps = f"var/lib/bubblehost/backup/{ends.account}/databases"
        # A pattern that matches nothing is an error to borg: the dumps only when it has some.
        logins = latest.get("mail_logins")  # root's staging file on the dead server, if any
        extra = [*([dumps] if latest["databases"] else []), *([logins] if logins else [])]
        repository.extract(latest["archive"], [files, *extra], into)
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
        # The mailbox logins as archived from Dovecot's file (hashes), never from the home.
        lines = (into / logins).read_text(encoding="utf-8") if logins else ""
        installed = install_mail_logins(ctx, ends, lines, "replace") if lines else 0
    run_on(ctx, ends, ends.target, f"systemctl start php-fpm-acct@{ends.account}.service")
    return {"databases": loaded, "mailboxes": latest.get("mailboxes", []),
            "mail_logins": installed}  # fmt: skip
