"""Moving an account to another server while its site runs (`bubble account move`).

1. The account's bubble is made on the target by the one converge (the catalog as it will be:
   the same account, so the same limits in force), while the catalog still says the source.
2. Files, databases and mailbox logins are copied while the site runs: files by rsync run as
   root on the source, pushing to the target over ssh with a key made for this move alone
   (authorised on the target only from the source's address, removed once switched).
3. A short freeze on the source (its vhost answers 503, IMAP logins refused and open
   sessions ended), a final incremental copy, the switch in the catalog (one write), the
   source's vhost replaced by a proxy to the target; the downtime is measured from the freeze
   to the proxy. Then the target is converged with the real catalog.
4. `--finish` (after DNS moved) removes the account from the source (its removal converge).

An interrupted move leaves the account serving from the source (a failed freeze is lifted at
once; a killed one at the next run) and is resumed by running the command again: the row in
`account_moves` remembers where it goes.

As root, nothing follows a name the tenant controls: rsync copies links as links (never -L),
drops those that point out of the home (--safe-links), recreates a FIFO without opening it
and copies no device; paths are the catalog's own (/srv/NAME, validated names)."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from glue.backup.agent import DB_RE, DEFINER_RE, MAIL_USERS, mail_logins_argv
from glue.catalog import Catalog, save_account
from glue.errors import BubbleError
from glue.limits import effective_base, limits_in_force
from glue.models import AccountState, ServerRole, ServerState
from glue.paths import private_dir, state_dir
from glue.placement import ServerLoad, server_loads
from glue.remote import last_line, require_address, ssh_argv
from glue.services.accounts import account_home, require_account
from glue.services.context import Context
from glue.services.converge import Operation, converge
from glue.state.boosts import boosts_at
from glue.state.moves import Move, open_move, set_phase, start_move

Report = Callable[[str], None]

MAIL_DENY = "/etc/dovecot/bubble-suspended"  # bubble_mail_suspended_file
KEPT = "/etc/bubblehost/moves"  # on the source: the account's own vhost while frozen
KEYS = "/root/.bubble-move"  # on the source: this move's ssh key and the target's host key
COPY_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Ends:
    """The two servers of a move, as ssh reaches them."""

    catalog: Catalog
    account: str
    source: str
    target: str

    @property
    def home(self) -> str:
        return account_home(self.account)


def run_on(ctx: Context, ends: Ends, where: str, script: str, stdin: str | None = None,
         timeout: float = 300, ok: tuple[int, ...] = (0,)) -> str:  # fmt: skip
    """`script` as root on `where`; its stdout; one line naming the server and why otherwise.
    Secrets (keys, mailbox hashes) travel on stdin only."""
    argv = ssh_argv(ctx, where, ends.catalog.servers[where], script)
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode not in ok:
        raise BubbleError(f"move of {ends.account}: on {where}: {last_line(done)}")
    return done.stdout


def address(ctx: Context, catalog: Catalog, name: str) -> str:
    return require_address(ctx, name, catalog.servers[name])


def check_target(
    ctx: Context,
    catalog: Catalog,
    name: str,
    target: str,
    loads: Mapping[str, ServerLoad] | None = None,
) -> None:
    """The target is an active web server other than the account's, with room for its base.
    `loads`: the fleet's (server_loads), from a caller that checks many targets at once."""
    account = catalog.accounts[name]
    if target not in catalog.servers:
        raise BubbleError(f"unknown server {target!r}")
    server = catalog.servers[target]
    if server.role is not ServerRole.WEB:
        raise BubbleError(f"server {target!r} is a backup server: it takes no accounts")
    if server.state is not ServerState.ACTIVE:
        raise BubbleError(f"server {target!r} is {server.state.value}: it takes no accounts")
    if target == account.server:
        raise BubbleError(f"account {name!r} is on {target} already")
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    loads = server_loads(catalog, ctx.today) if loads is None else loads
    if not loads[target].fits(base):
        raise BubbleError(f"server {target!r} has no room for {name}'s base")


# ------------------------------------------------------------------------------ the copy


def _trust(ctx: Context, ends: Ends) -> None:
    """A key for this move alone: authorised on the target (from the source's address only,
    no forwarding, no pty), held by root on the source with the target's host key, which the
    control plane read over its own checked connection."""
    keydir = private_dir(state_dir(ctx.root) / "moves" / ends.account)
    key = keydir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"bubble-move-{ends.account}", "-f", str(key)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip
    public = key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    source_ip = address(ctx, ends.catalog, ends.source)
    target_ip = address(ctx, ends.catalog, ends.target)
    host_key = run_on(ctx, ends, ends.target, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()
    tag = f"bubble-move-{ends.account}"
    authorise = (
        "set -e; umask 077; mkdir -p /root/.ssh; f=/root/.ssh/authorized_keys; touch $f; "
        f'tmp=$(mktemp $f.XXXXXX); grep -v " {tag}$" $f >$tmp || true; cat >>$tmp; mv $tmp $f'
    )
    run_on(ctx, ends, ends.target, authorise, stdin=f'restrict,from="{source_ip}" {public}\n')
    where = f"{KEYS}/{ends.account}"
    hold = f"set -e; umask 077; mkdir -p {where}; cat >{where}/key"
    run_on(ctx, ends, ends.source, hold, stdin=key.read_text(encoding="utf-8"))
    known = f"set -e; umask 077; cat >{where}/known_hosts"
    run_on(ctx, ends, ends.source, known, stdin=f"{target_ip} {host_key[0]} {host_key[1]}\n")


def _untrust(ctx: Context, ends: Ends) -> None:
    tag = f"bubble-move-{ends.account}"
    script = (
        "f=/root/.ssh/authorized_keys; tmp=$(mktemp $f.XXXXXX) && "
        f'{{ grep -v " {tag}$" $f >$tmp || true; }} && mv $tmp $f'
    )
    run_on(ctx, ends, ends.target, script)
    run_on(ctx, ends, ends.source, f"rm -rf {KEYS}/{ends.account}")
    keydir = state_dir(ctx.root) / "moves" / ends.account
    for path in keydir.glob("id_ed25519*"):
        path.unlink()


def copy_argv(rsh: str, sources: list[str], dest: str, *extra: str) -> list[str]:
    """rsync as root over a tenant's tree: links copied as links, those pointing out of the
    tree left out, FIFOs and sockets recreated (never opened), no devices, holes kept."""
    return ["rsync", "-aH", "--no-devices", "--specials", "--safe-links", "--sparse",
            "--timeout=600", *extra, "-e", rsh, *sources, dest]  # fmt: skip


def _rsync(ctx: Context, ends: Ends, max_size_mib: int) -> None:
    """The home, as root on the source, to the target: links as links and never one out of
    the home, FIFOs recreated (never read), no devices, sparse files kept sparse; a file
    bigger than the account's whole disk limit can only be a sparse trap and is left out."""
    where = f"{KEYS}/{ends.account}"
    rsh = (f"ssh -i {where}/key -o IdentitiesOnly=yes -o UserKnownHostsFile={where}/known_hosts "
           "-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10")  # fmt: skip
    target_ip = address(ctx, ends.catalog, ends.target)
    argv = ["timeout", str(COPY_SECONDS),
            *copy_argv(rsh, [f"{ends.home}/"], f"root@{target_ip}:{ends.home}/",
                       "--delete", f"--max-size={max_size_mib}M")]  # fmt: skip
    # 24: files vanished while the site ran (the final copy, frozen, has none).
    run_on(ctx, ends, ends.source, shlex.join(argv), timeout=COPY_SECONDS + 60, ok=(0, 24))


def _databases(ctx: Context, ends: Ends) -> list[str]:
    """Each of the account's databases: dumped as in backups (single transaction, routines,
    triggers, events) on the source, loaded on the target as the account's own user."""
    like = ends.account + "\\\\_%"
    found = run_on(ctx, ends, ends.source, f"mariadb -N -B -e \"SHOW DATABASES LIKE '{like}'\"")
    names = [n for n in found.split() if DB_RE.fullmatch(n) and n.startswith(ends.account + "_")]
    source = ends.catalog.servers[ends.source]
    for name in names:
        dump = shlex.join(["mariadb-dump", "--single-transaction", "--routines", "--triggers",
                           "--events", "--hex-blob", "--default-character-set=utf8mb4",
                           name])  # fmt: skip
        load_database(ctx, ends, name, ssh_argv(ctx, ends.source, source, dump))
    return names


def load_database(ctx: Context, ends: Ends, name: str, dump: list[str]) -> None:
    """What `dump` (argv) prints loaded into a fresh database `name` on the target, as the
    account's own database user (the database made by root, its content by the account)."""
    reset = f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
    run_on(ctx, ends, ends.target, shlex.join(["mariadb", "-e", reset]))
    who = ends.account  # a catalog name (a-z, 0-9): safe in the shell as it is
    load = f"setpriv --reuid=$(id -u {who}) --regid=$(id -g {who}) --clear-groups -- " + (
        shlex.join(["mariadb", f"--user={who}", "--default-character-set=utf8mb4", name])
    )
    target = ends.catalog.servers[ends.target]
    _pipe(dump, ssh_argv(ctx, ends.target, target, load), f"database {name}")


def _pipe(dump: list[str], load: list[str], what: str) -> None:
    """dump | (DEFINER clauses dropped from DDL lines: the account is no SUPER) | load."""
    with subprocess.Popen(load, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as sink, \
         subprocess.Popen(dump, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL) as source:  # fmt: skip
        assert source.stdout is not None and sink.stdin is not None
        for line in source.stdout:
            if not line.startswith(b"INSERT"):
                line = DEFINER_RE.sub("", line.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape"
                )
            sink.stdin.write(line)
        sink.stdin.close()
        dumped, loaded = source.wait(), sink.wait()
        errors = (source.stderr.read() if source.stderr else b"") + (
            sink.stderr.read() if sink.stderr else b""
        )
    if dumped or loaded:
        why = errors.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise BubbleError(f"copying {what}: {why[0]}")


def _mail_logins(ctx: Context, ends: Ends) -> int:
    """The account's mailbox logins (Dovecot passwd lines, hashes only) copied to the
    target with the target's uid and gid; an address another account holds there refuses."""
    prefix = f"{ends.home}/mail/"
    read = f"awk -F: -v h={prefix} 'index($6, h) == 1' {MAIL_USERS}"
    lines = run_on(ctx, ends, ends.source, read)
    return install_mail_logins(ctx, ends, lines, "replace") if lines.strip() else 0


def install_mail_logins(ctx: Context, ends: Ends, lines: str, mode: str) -> int:
    """Mailbox login lines (hashes, on stdin only) installed on the target as the account's
    (glue.backup.agent.MAIL_LOGINS_SCRIPT, the agent's own restore runs the same); how many."""
    argv = mail_logins_argv(ends.account, ends.home, mode, MAIL_USERS)
    return int(run_on(ctx, ends, ends.target, shlex.join(argv), stdin=lines).strip() or 0)


def _copy(ctx: Context, ends: Ends, max_size_mib: int) -> dict[str, Any]:
    _rsync(ctx, ends, max_size_mib)
    return {"databases": _databases(ctx, ends), "mailboxes": _mail_logins(ctx, ends)}


# --------------------------------------------------------------------- freeze and proxy


def _vhost(account: str, domains: list[str], body: str) -> str:
    return (f"# Written by bubble account move: {account}.\nserver {{\n    listen 80;\n"
            f"    server_name {' '.join(domains)};\n{body}}}\n")  # fmt: skip


def _replace_vhost(ctx: Context, ends: Ends, text: str) -> None:
    """The source's vhost of the account replaced (its own kept aside once, outside conf.d)."""
    conf = f"/etc/nginx/conf.d/acct-{ends.account}.conf"
    script = (
        f"set -e; umask 022; mkdir -p {KEPT}; chmod 0700 {KEPT}; "
        f"[ -e {KEPT}/acct-{ends.account}.conf ] || cp -p {conf} {KEPT}/acct-{ends.account}.conf; "
        f"cat >{conf}.move; mv {conf}.move {conf}; nginx -t -q; systemctl reload nginx"
    )
    run_on(ctx, ends, ends.source, script, stdin=text)


def _freeze(ctx: Context, ends: Ends, domains: list[str]) -> None:
    """The site answers 503, IMAP logins are refused and every open session (IMAP, FTP) of
    the account's user is ended: nothing changes its files or mail until the switch."""
    _replace_vhost(ctx, ends, _vhost(ends.account, domains, "    return 503;\n"))
    prefix = f"{ends.home}/mail/"
    deny = (
        f"set -e; {{ printf '%s:\\n' {shlex.join(domains)}; "
        f"awk -F: -v h={prefix} 'index($6, h) == 1 {{ print $1 \":\" }}' {MAIL_USERS}; }} "
        f">{KEPT}/{ends.account}.deny; "
        f"cat {KEPT}/{ends.account}.deny >>{MAIL_DENY}; "
        "doveadm auth cache flush >/dev/null 2>&1 || true; "
        f"pkill --signal KILL --uid {ends.account} || true"
    )
    run_on(ctx, ends, ends.source, deny)


def _thaw(ctx: Context, ends: Ends) -> None:
    """Undo a freeze (the move failed before the switch): the account's own vhost back,
    IMAP logins allowed again. Nothing to do when it was not frozen."""
    conf = f"/etc/nginx/conf.d/acct-{ends.account}.conf"
    kept = f"{KEPT}/acct-{ends.account}.conf"
    deny = f"{KEPT}/{ends.account}.deny"
    script = (
        f"set -e; if [ -e {kept} ]; then mv {kept} {conf}; nginx -t -q; "
        "systemctl reload nginx; "
        f"systemctl restart php-fpm-acct@{ends.account}.service || true; fi; "
        f"if [ -e {deny} ]; then tmp=$(mktemp {MAIL_DENY}.XXXXXX); "
        f"grep -vxF -f {deny} {MAIL_DENY} >$tmp || true; chown root:dovecot $tmp; "
        f"chmod 0640 $tmp; mv $tmp {MAIL_DENY}; rm -f {deny}; "
        "doveadm auth cache flush >/dev/null 2>&1 || true; fi"
    )
    run_on(ctx, ends, ends.source, script)


def _proxy(ctx: Context, ends: Ends, domains: list[str]) -> None:
    """The source sends the account's requests to the target until DNS has moved."""
    target_ip = address(ctx, ends.catalog, ends.target)
    body = (
        "    location / {\n"
        f"        proxy_pass http://{target_ip};\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    }\n"
    )
    _replace_vhost(ctx, ends, _vhost(ends.account, domains, body))


# ------------------------------------------------------------------------------ the move


def move_account(ctx: Context, name: str, to: str, report: Report) -> dict[str, Any]:
    """Move `name` to `to` (or resume its interrupted move there); see the module's doc."""
    catalog = ctx.catalog()
    account = require_account(catalog, name)
    move = open_move(ctx.engine, name)
    if move is None:
        check_target(ctx, catalog, name, to)
        move = start_move(ctx.engine, name, account.server, to)
    elif move.target != to:
        raise BubbleError(f"account {name!r} is being moved to {move.target}: resume that move")
    ends = Ends(catalog, name, move.source, move.target)
    if move.phase == "switched":
        report(f"{name} is on {to} already; `bubble account move {name} --finish` after DNS")
        return _summary(ctx, catalog, move)
    if account.server == move.source:
        staged = catalog.with_account(name, account.model_copy(update={"server": to}))
        carry(ctx, staged, to, report)
        # Nothing of the tenant runs on the target while root writes its home there.
        run_on(ctx, ends, to, f"systemctl stop acct-{name}.slice")
        in_force = limits_in_force(staged, boosts_at(ctx.engine), ctx.today, [name])[name]
        _trust(ctx, ends)
        _thaw(ctx, ends)  # a freeze a killed run left behind
        report(f"{name}: copying files, databases and mail to {to} (the site keeps running)")
        _copy(ctx, ends, in_force.disk_mib)
        report(f"{name}: freezing on {move.source} for the final copy")
        started = time.monotonic()
        try:
            _freeze(ctx, ends, list(account.domains))
            copied = _copy(ctx, ends, in_force.disk_mib)
            _switch(ctx, name, move)
        except BaseException:
            _thaw(ctx, ends)
            raise
        report(f"{name}: {len(copied['databases'])} database(s), {copied['mailboxes']} mailbox "
               "login(s) copied")  # fmt: skip
    elif account.server == move.target:  # switched by a run that stopped before the proxy
        started = time.monotonic()
    else:
        raise BubbleError(f"account {name!r} was put on {account.server} meanwhile")
    run_on(ctx, ends, to, f"systemctl start php-fpm-acct@{name}.service")
    _proxy(ctx, ends, list(account.domains))
    move = set_phase(ctx.engine, move, "switched", int((time.monotonic() - started) * 1000))
    _untrust(ctx, ends)
    carry(ctx, ctx.catalog(), to, report)
    return _summary(ctx, catalog, move)


def carry(ctx: Context, catalog: Catalog, server: str, report: Report) -> None:
    result = converge(ctx, catalog, Operation.ACCOUNTS, report, servers=[server])
    if server not in result.done:
        raise BubbleError("; ".join(str(p) for p in result.pending) or f"{server} not converged")


def _switch(ctx: Context, name: str, move: Move) -> None:
    """The catalog says the target from now on (one write, under the catalog lock)."""
    with ctx.editing() as current:
        account = require_account(current, name)
        if account.server != move.source:
            raise BubbleError(f"account {name!r} was put on {account.server} meanwhile")
        save_account(current.with_account(name, account.model_copy(update={"server": move.target})),
                     name)  # fmt: skip


def _summary(ctx: Context, catalog: Catalog, move: Move) -> dict[str, Any]:
    return {"account": move.account, "from": move.source, "to": move.target,
            "address": address(ctx, catalog, move.target), "phase": move.phase,
            "downtime_ms": move.downtime_ms}  # fmt: skip


def finish_move(ctx: Context, name: str, report: Report) -> dict[str, Any]:
    """DNS has moved: the account leaves the source (its removal converge there), the proxy
    with it. Purged, not archived: its files and databases are on the target and in its
    backups, and archiving would read whatever the tenant left (a 1 TiB sparse file is a
    1 TiB read for tar)."""
    move = open_move(ctx.engine, name)
    if move is None or move.phase != "switched":
        raise BubbleError(f"account {name!r} has no switched move to finish")
    catalog = ctx.catalog()
    account = require_account(catalog, name)
    gone = account.model_copy(update={"server": move.source, "state": AccountState.PURGING})
    staged = catalog.with_account(name, gone)
    result = converge(ctx, staged, Operation.REMOVE, report, servers=[move.source])
    if move.source not in result.done:
        raise BubbleError("; ".join(str(p) for p in result.pending) or "not removed")
    ends = Ends(catalog, name, move.source, move.target)
    run_on(ctx, ends, move.source, f"rm -f {KEPT}/acct-{name}.conf")
    _thaw(ctx, ends)  # the IMAP deny entries of the freeze
    move = set_phase(ctx.engine, move, "finished")
    return _summary(ctx, catalog, move)
