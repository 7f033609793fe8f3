"""Backups as operations: prepare the keys, run, list, prune, check, export the keys.

The web servers make the archives (their agent, started by their timer or by `run` here);
everything else goes through the control plane's own key to the backup server's `borg
serve` (glue.backup.borg). See glue/backup/__init__.py for who holds which key."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from glue.backup import keys
from glue.backup.agent import ACCOUNT_RE, ARCHIVE_RE, DB_RE, MAILBOX_RE, home_path
from glue.backup.authorized import authorized_keys
from glue.backup.borg import BorgError, Repository
from glue.backup.topology import (
    BORG_USER,
    backup_servers,
    backup_target,
    clients,
    policy,
    repository_path,
)
from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.models import ServerRole
from glue.paths import private_file
from glue.providers import provider
from glue.remote import last_line, ssh_argv, ssh_dir
from glue.services.context import Context
from glue.state.addresses import address_of

# What the backup_client role installs on each web server.
STATUS_FILE = "/var/lib/bubblehost/backup/last.json"
RUN_SECONDS = 6 * 3600


def prepare(root: Path, catalog: Catalog) -> Path:
    """Every key and passphrase the roles ship, made once, and each backup server's
    authorized_keys (the forced commands); the directory the roles read them from."""
    for backup in backup_servers(catalog):
        webs = {web: keys.public(keys.client_key(root, web)) for web in clients(catalog, backup)}
        for web in webs:
            keys.passphrase_file(root, web)
        text = authorized_keys(webs, keys.public(keys.control_key(root)), "/srv/borg")
        path = keys.backup_dir(root) / f"{backup}.authorized_keys"
        private_file(path)
        path.write_text(text, encoding="utf-8")
    return keys.backup_dir(root)


def repository(ctx: Context, catalog: Catalog, web: str) -> Repository:
    """`web`'s repository as the control plane reaches it (its own key: may prune)."""
    target = backup_target(catalog, web)
    if target is None:
        raise BubbleError("no backup server in the catalog (`bubble server add ... --role backup`)")
    server = catalog.servers[target]
    address = address_of(ctx.engine, target, server)
    if not address:
        raise BubbleError(f"backup server {target}: no address yet (run `bubble apply`)")
    options = provider(server.provider).ssh_options(
        keys.control_key(ctx.root), ssh_dir(ctx.root) / "known_hosts"
    )
    return Repository(
        f"ssh://{BORG_USER}@{address}{repository_path(web)}",
        keys.passphrase_file(ctx.root, web),
        ["ssh", *options],
        keys.backup_dir(ctx.root) / "borg-cache",
    )


def _seen_file(root: Path, web: str) -> Path:
    return keys.server_dir(root, web) / "seen.json"


def _seen(root: Path, web: str) -> dict[str, list[str]]:
    path = _seen_file(root, web)
    data: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}
    return data


def _remember(root: Path, web: str, account: str, names: list[str]) -> None:
    """The archives of `account` the control plane has seen (the prune's tamper check)."""
    seen = _seen(root, web)
    seen[account] = sorted(set(seen.get(account, [])) | set(names))
    path = private_file(_seen_file(root, web))
    path.write_text(json.dumps(seen, sort_keys=True), encoding="utf-8")


def _forget(root: Path, web: str, account: str, names: list[str]) -> None:
    seen = _seen(root, web)
    seen[account] = sorted(set(seen.get(account, [])) - set(names))
    private_file(_seen_file(root, web)).write_text(json.dumps(seen, sort_keys=True))


def web_servers(catalog: Catalog, server: str | None, account: str | None) -> dict[str, str]:
    """web server -> what to back up there (`all` or one account)."""
    if account is not None:
        if account not in catalog.accounts:
            raise BubbleError(f"unknown account {account!r}")
        return {catalog.accounts[account].server: account}
    if server is not None:
        if server not in catalog.servers:
            raise BubbleError(f"unknown server {server!r}")
        if catalog.servers[server].role is not ServerRole.WEB:
            raise BubbleError(f"server {server!r} is a backup server: it has no accounts")
        return {server: "all"}
    return {
        name: "all"
        for name, s in sorted(catalog.servers.items())
        if s.role is ServerRole.WEB and catalog.accounts_on(name)
    }


def run(
    ctx: Context, server: str | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    """Back up now (every web server, one, or one account) through each web server's own
    unit (its agent, bounded CPU and IO), its result read back. One line per account.

    The repository is made (its key exported) on the first run only: later runs go straight
    to the agent. Should the backup server have lost it, the failed run makes it anew and
    runs once more. A web server whose backup server cannot be reached gets one failed line."""
    catalog = ctx.catalog()
    results: list[dict[str, Any]] = []
    for web, which in web_servers(catalog, server, account).items():
        repo, repokey = repository(ctx, catalog, web), keys.repokey_file(ctx.root, web)
        try:
            if not repokey.exists():
                repo.init(repokey)
            ran = _run_unit(ctx, catalog, web, which)
            failed = isinstance(ran, str) or not all(r.get("ok") for r in ran)
            if failed and not repo.exists():  # the backup server had lost it: made anew
                repo.init(repokey)
                ran = _run_unit(ctx, catalog, web, which)
        except BorgError as exc:  # its backup server out of reach: the other web servers go on
            ran = f"{web}: {exc}"
        if isinstance(ran, str):
            results.append({"server": web, "account": which, "ok": False, "error": ran})
            continue
        for result in ran:
            results.append({"server": web, **result})
            if result.get("ok"):
                _remember(ctx.root, web, result["account"], [result["archive"]])
    return results


def _run_unit(ctx: Context, catalog: Catalog, web: str, which: str) -> list[dict[str, Any]] | str:
    """Start `web`'s backup unit for `which` (`all` or an account) and wait: its per-account
    results, or the error that kept it from reporting any."""
    unit = f"bubble-backup@{which}.service"
    # The status file is the run's own: an old one must not pass for a unit that failed.
    remote = f"rm -f {STATUS_FILE}; systemctl start --wait {shlex.quote(unit)}; cat {STATUS_FILE}"
    argv = ssh_argv(ctx, web, catalog.servers[web], remote)
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=RUN_SECONDS, check=False)  # fmt: skip
    try:
        return list(json.loads(done.stdout.strip().splitlines()[-1])["results"])
    except (IndexError, KeyError, ValueError):
        return f"{web}: {last_line(done)}"


def list_archives(ctx: Context, account: str) -> list[dict[str, Any]]:
    catalog = ctx.catalog()
    if not ACCOUNT_RE.fullmatch(account) or account not in catalog.accounts:
        raise BubbleError(f"unknown account {account!r}")
    web = catalog.accounts[account].server
    rows = repository(ctx, catalog, web).archives(account)
    _remember(ctx.root, web, account, [row["archive"] for row in rows])
    return rows


def backed_up(catalog: Catalog) -> dict[str, str]:
    """Each web server that has a backup server -> that backup server."""
    webs = sorted(n for n, s in catalog.servers.items() if s.role is ServerRole.WEB)
    targets = {web: backup_target(catalog, web) for web in webs}
    return {web: target for web, target in targets.items() if target is not None}


def prune(ctx: Context) -> list[dict[str, Any]]:
    """Every account's archives by its backup server's retention; refused for a repository
    where an archive the control plane saw has vanished (see Repository.prune)."""
    catalog = ctx.catalog()
    out: list[dict[str, Any]] = []
    for web, target in backed_up(catalog).items():
        repo, keep, seen = (
            repository(ctx, catalog, web),
            policy(catalog, target).keep,
            _seen(ctx.root, web),
        )
        for account in sorted({*catalog.accounts_on(web), *seen}):
            deleted = repo.prune(account, keep, seen.get(account, []))
            _forget(ctx.root, web, account, deleted)
            out.append({"server": web, "account": account, "deleted": deleted})
    return out


def check(ctx: Context) -> list[dict[str, Any]]:
    """`borg check` of every repository (its segments and archives), one row each."""
    catalog = ctx.catalog()
    rows = []
    for web in backed_up(catalog):
        try:
            repository(ctx, catalog, web).check()
            rows.append({"server": web, "ok": True})
        except BubbleError as exc:
            rows.append({"server": web, "ok": False, "error": str(exc)})
    return rows


def key_files(ctx: Context) -> list[dict[str, str]]:
    """Where each repository's exported key and passphrase are (both are needed)."""
    catalog = ctx.catalog()
    rows = []
    for web in backed_up(catalog):
        rows.append({
            "server": web,
            "key": str(keys.repokey_file(ctx.root, web)),
            "passphrase": str(keys.passphrase_file(ctx.root, web)),
            "exported": str(keys.repokey_file(ctx.root, web).exists()).lower(),
        })  # fmt: skip
    return rows


def check_restore(catalog: Catalog, account: str, what: str, archive: str | None) -> None:
    """What a restore asks for, refused here before anything runs (the agent on the server
    checks again): an archive, a database or a mailbox of the account's own, a path inside
    its home. One line naming what is wrong."""
    if archive is not None:
        matched = ARCHIVE_RE.fullmatch(archive)
        if matched is None or matched.group(1) != account:
            raise BubbleError(f"archive {archive!r} is not one of {account}'s")
    kind, _, value = what.partition(":")
    if kind == "path":
        try:
            home_path(value)
        except ValueError as exc:
            raise BubbleError(str(exc)) from None
    elif kind == "db":
        if not DB_RE.fullmatch(value) or not value.startswith(f"{account}_"):
            raise BubbleError(f"database {value!r} is not one of {account}'s")
    elif kind == "mailbox":
        domain = value.rpartition("@")[2]
        if not MAILBOX_RE.fullmatch(value) or domain not in catalog.accounts[account].domains:
            raise BubbleError(f"mailbox {value!r} is not one of {account}'s")
    elif what != "all":
        raise BubbleError(f"nothing to restore: {what!r}")


AGENT = ["/usr/bin/python3", "-s", "/usr/local/lib/bubblehost/bubble-backup",
         "--config", "/etc/bubblehost/backup.conf"]  # fmt: skip


def restore(
    ctx: Context, account: str, what: str, archive: str | None = None, to_account: str | None = None
) -> dict[str, Any]:
    """Restore `what` (`path:P`, `db:NAME`, `mailbox:ADDR` or `all`) from one of the
    account's archives (default: its latest) into it, or into `to_account` on the same
    server; what it replaces is kept aside (renamed beside it; databases dumped aside)."""
    catalog = ctx.catalog()
    target = to_account or account
    for name in (account, target):
        if not ACCOUNT_RE.fullmatch(name) or name not in catalog.accounts:
            raise BubbleError(f"unknown account {name!r}")
    check_restore(catalog, account, what, archive)
    web = catalog.accounts[account].server
    if catalog.accounts[target].server != web:
        raise BubbleError(
            f"{target} is not on {web}: restore into an account on {account}'s server"
        )
    if archive is None:
        rows = list_archives(ctx, account)
        if not rows:
            raise BubbleError(f"{account} has no backup yet")
        archive = rows[-1]["archive"]
    remote = shlex.join([*AGENT, "restore", account, archive, what, "--to-account", target])
    done = subprocess.run(ssh_argv(ctx, web, catalog.servers[web], remote), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BubbleError(f"restore on {web}: {last_line(done)}") from None
    if not result.get("ok"):
        raise BubbleError(f"restore of {account} from {archive}: {result.get('error')}")
    return result


def last_good_backups(ctx: Context) -> dict[str, str | None]:
    """account -> the time of its newest archive (ISO, UTC as borg reports it), None when it
    has none: the monitor's `backup-missing` input (an account's last good backup older than
    26 h is an alert). One `borg info` per repository; a repository that cannot be read
    counts as no backup for its accounts (the alert is the right answer then too)."""
    catalog = ctx.catalog()
    newest: dict[str, str | None] = {
        name: None for name, account in catalog.accounts.items() if not account.state.leaving
    }
    for web in backed_up(catalog):
        if not catalog.accounts_on(web):
            continue
        try:
            rows = repository(ctx, catalog, web).archives()
        except BubbleError:
            continue
        for row in rows:  # oldest first: the last one seen is the newest
            if row["account"] in newest:
                newest[row["account"]] = row["time"]
    return newest
