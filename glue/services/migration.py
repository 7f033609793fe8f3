"""Moving a site, its databases and mailboxes from another host into an account.

What `bubble migrate` (and later the panel) calls: the request is checked against the catalog
(the account, its server's address, its disk limit in force), the passwords are gathered, the
account's server is reached over ssh (glue's SshTarget, injected into the migrator), and the
migrator pre-flights, copies, verifies and records the job. Bad input raises BubbleError, or
MigratorError for a source or a password the migrator refuses; both are one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.limits import limits_in_force
from glue.migration_target import SshTarget
from glue.remote import ssh_options
from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.addresses import address_of
from glue.state.boosts import boosts_at
from migrator.jobs import JobStore
from migrator.mail import MailTarget
from migrator.network import OPEN, Network
from migrator.report import MigrationReport
from migrator.runner import Events, MigrationPlan, Runner
from migrator.secrets import read_password_file, resolve
from migrator.sources import TlsOptions, parse_db_url, parse_files_url, parse_mail_arg
from migrator.target import Target


@dataclass(frozen=True)
class MigrationRequest:
    """What the operator asked for. URLs never carry a password (the migrator refuses them)."""

    account: str
    files: str | None = None  # ftp://user@host[:port]/path (also ftps://, sftp://)
    databases: tuple[str, ...] = ()  # mysql://user@host[:port]/dbname
    mail: tuple[str, ...] = ()  # imaps://user@host=mailbox@domain
    check_only: bool = False  # only the pre-flight: logins, sizes, fit
    resume: bool = False  # continue the last unfinished job of the same sources
    password_file: Path | None = None  # KEY=password lines, readable by its owner only
    ssh_options: tuple[str, ...] = ()  # extra `-o` options for the account's server
    mail_port: int = 993  # IMAPS port of the account's server
    mail_cafile: Path | None = None  # CA of the account's server's IMAP certificate
    mail_tls_name: str | None = None  # name in that certificate (default: the address)


@dataclass
class Migration:
    """A request checked and with its passwords in hand: ready to run."""

    request: MigrationRequest
    plan: MigrationPlan
    runner: Runner

    @property
    def warnings(self) -> list[str]:
        """One line per source reached without encryption or without a certificate check."""
        return self.plan.warnings()

    def run(self, events: Events | None = None) -> MigrationReport:
        """Pre-flight, then (unless check_only) copy and verify; the report says how it ended
        (its exit_code: 0 verified, 3 verified with warnings, 1 failed)."""
        if events is not None:
            self.runner.events = events
        return self.runner.run(check_only=self.request.check_only, resume=self.request.resume)


def prepare_migration(
    ctx: Context,
    request: MigrationRequest,
    prompt: Callable[[str], str] | None = None,
    environ: Mapping[str, str] = os.environ,
    passwords: Mapping[str, str] | None = None,
    target: Target | None = None,
    network: Network = OPEN,
) -> Migration:
    """Everything checked before any byte moves. Passwords come from `passwords` (the panel's
    form, in memory: password-file keys) or the password file, then the environment
    (BUBBLE_MIGRATE_*_PASSWORD), then `prompt` (None: never ask). `target`: the account's
    server reached otherwise than by ssh (a local user in tests). `network`: which addresses of
    the old host may be dialled (the panel: public ones only)."""
    catalog = ctx.catalog()
    account = require_account(catalog, request.account)
    server = catalog.servers[account.server]
    address = address_of(ctx.engine, account.server, server)
    if not address:
        raise BubbleError(f"account {request.account}: server {account.server} has no address yet")
    if not (request.files or request.databases or request.mail):
        raise BubbleError("nothing to migrate: give --files, --db or --mail")
    tls = TlsOptions(
        cafile=str(request.mail_cafile) if request.mail_cafile else None,
        server_name=request.mail_tls_name,
    )
    plan = MigrationPlan(
        account=request.account,
        files=parse_files_url(request.files) if request.files else None,
        databases=[parse_db_url(url) for url in request.databases],
        mail=[parse_mail_arg(arg) for arg in request.mail],
        disk_limit_mib=_disk_limit_mib(ctx, catalog, request.account),
        mail_target=lambda box: MailTarget(address, request.mail_port, box, ssl=True, tls=tls),
        network=network,
    )
    values = dict(passwords or {})
    if request.password_file:
        values |= read_password_file(request.password_file)
    secrets = resolve(plan, values, environ, prompt)
    if target is not None:
        return Migration(request, plan, Runner(plan, secrets, target, JobStore(ctx.engine)))
    # The same ssh settings as `bubble server ssh`: the control plane's key and the host keys
    # known for this server (the lab's own known_hosts for lab servers), checked every time.
    target = SshTarget(
        address=address,
        account=request.account,
        ssh_options=(
            *ssh_options(ctx.root, server),
            *(arg for opt in request.ssh_options for arg in ("-o", opt)),
        ),
    )
    return Migration(request, plan, Runner(plan, secrets, target, JobStore(ctx.engine)))


def _disk_limit_mib(ctx: Context, catalog: Catalog, account: str) -> int:
    """The account's disk limit in force now (base, raised by any elastic boost)."""
    return limits_in_force(catalog, boosts_at(ctx.engine), ctx.today, [account])[account].disk_mib
