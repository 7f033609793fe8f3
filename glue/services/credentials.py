"""An account's mailboxes and FTP login, on its server through the role's scripts: passwords
set on stdin, never on a command line, in the catalog, the inventory or a log; the mailboxes
listed as the server's Dovecot knows them (those made here, migrated or made by hand)."""

from __future__ import annotations

import shlex
import subprocess

from glue.errors import BubbleError
from glue.models import MAILBOX_LOCAL_RE
from glue.remote import RemoteError, last_line, ssh_argv
from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.addresses import address_of

MIN_PASSWORD = 8


def _run_script(ctx: Context, account: str, argv: list[str], password: str | None) -> str:
    """The script's output, run as root on the account's server (over the ssh seam)."""
    catalog = ctx.catalog()
    server_name = require_account(catalog, account).server
    server = catalog.servers[server_name]
    done = subprocess.run(
        ssh_argv(ctx, server_name, server, shlex.join(argv)),
        input=f"{password}\n" if password is not None else "",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RemoteError(f"server {server_name}: {argv[0].rsplit('/', 1)[-1]}: {last_line(done)}")
    return done.stdout


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or "\n" in password:
        raise BubbleError(f"the password must be one line of at least {MIN_PASSWORD} characters")


def mailbox_address(ctx: Context, account: str, address: str) -> str:
    """The address, lower-cased, once it is one of the account's domains with a valid local
    part; else one line naming it (a tenant picks these names: no path, no other domain)."""
    domains = require_account(ctx.catalog(), account).domains
    local, _, domain = address.lower().partition("@")
    if domain not in domains:
        raise BubbleError(
            f"mailbox {address!r}: the domain must be one of the account's ({', '.join(domains)})"
        )
    if len(local) > 64 or not MAILBOX_LOCAL_RE.fullmatch(local):
        raise BubbleError(
            f"mailbox {address!r}: the part before @ may hold a-z, 0-9, '_', '+', '-' and single "
            "dots between them (at most 64 characters)"
        )
    return address.lower()


def set_mailbox(ctx: Context, account: str, address: str, password: str | None) -> None:
    """Create a mailbox or change its password; `password=None` deletes it (mail is kept)."""
    address = mailbox_address(ctx, account, address)
    if password is None:
        argv = ["/usr/local/sbin/bubble-mailbox-password", "--delete", account, address]
    else:
        _check_password(password)
        argv = ["/usr/local/sbin/bubble-mailbox-password", account, address]
    _run_script(ctx, account, argv, password)


def list_mailboxes(ctx: Context, account: str) -> list[str]:
    """The account's mailboxes, sorted: the addresses of its domains that its server's Dovecot
    knows and gives to the account's user (asked through doveadm by the role's script). A
    server not built yet (no address) has none."""
    catalog = ctx.catalog()
    found = require_account(catalog, account)
    if not address_of(ctx.engine, found.server, catalog.servers[found.server]):
        return []
    argv = ["/usr/local/sbin/bubble-mailboxes", account, *found.domains]
    return sorted(set(_run_script(ctx, account, argv, None).split()))


def set_ftp_password(ctx: Context, account: str, password: str) -> None:
    _check_password(password)
    _run_script(ctx, account, ["/usr/local/sbin/bubble-ftp-password", account], password)
