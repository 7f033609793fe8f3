"""`bubble migrate ACCOUNT`: move a site, its databases and mailboxes from another host.

Thin: it finds the account's server, address and disk limit in the catalog, gathers the
passwords (file, environment or prompt) and hands everything to migrator.runner.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from glue.cli.common import JsonOption, context, print_json
from glue.errors import BubbleError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from glue.catalog import Catalog
    from glue.services.context import Context

migrate_app = typer.Typer(
    help="Move a site, its databases and mailboxes from another host into an account.",
    add_completion=False,
    rich_markup_mode=None,
)


class _Bars:
    """rich progress bars, one per part; called from the copy threads (rich locks itself)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def start(self, part: str, total_bytes: int) -> None:
        self.tasks[part] = self.progress.add_task(part, total=total_bytes or None)

    def advance(self, part: str, nbytes: int) -> None:
        self.progress.advance(self.tasks[part], nbytes)

    def done(self, part: str, state: str) -> None:
        task = self.tasks[part]
        self.progress.update(task, description=f"{part}: {state}")


# Mounted by glue/cli/main.py as a command: `app.command("migrate")(migrate)`.
@migrate_app.command("migrate")
def migrate(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="The account that receives everything."),
    files: str | None = typer.Option(
        None, "--files", help="ftp://user@host[:port]/path (also ftps://, sftp://)."
    ),
    db: list[str] = typer.Option(
        [], "--db", help="mysql://user@host[:port]/dbname (TLS; ?tls=no: plaintext); repeatable."
    ),
    mail: list[str] = typer.Option(
        [], "--mail", help="imaps://user@host=mailbox@domain (old mailbox = account's); repeatable."
    ),
    check: bool = typer.Option(False, "--check", help="Only the pre-flight: logins, sizes, fit."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished job."),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="KEY=password lines (files, db[:NAME], mail, mailbox); only its owner may read it.",
    ),
    ssh_option: list[str] = typer.Option(
        [], "--ssh-option", help="Extra ssh -o option for the account's server; repeatable."
    ),
    mail_port: int = typer.Option(993, "--mail-port", help="IMAPS port of the account's server."),
    mail_cafile: Path | None = typer.Option(
        None, "--mail-cafile", help="CA of the account's server's IMAP certificate."
    ),
    mail_tls_name: str | None = typer.Option(
        None,
        "--mail-tls-name",
        help="Name in the account's server's IMAP certificate (default: the address dialled).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Pre-flight, copy, verify and report (--check: pre-flight only).

    Exit code: 0 verified; 3 verified with warnings (items not moved, each in the report: a
    file the old host refuses to read, a folder the mailbox refuses, a link leading outside
    the site); 1 failed.
    """
    from migrator.errors import MigrationError
    from migrator.jobs import JobStore
    from migrator.mail import MailTarget
    from migrator.runner import Plan, Runner
    from migrator.secrets import SecretsError, read_password_file, resolve
    from migrator.sources import (
        SourceUrlError,
        TlsOptions,
        parse_db_url,
        parse_files_url,
        parse_mail_arg,
    )
    from migrator.target import SshTarget

    c = context(ctx)
    catalog = c.catalog()
    from glue.services.accounts import require_account

    acct = require_account(catalog, account)
    server = catalog.servers[acct.server]
    from glue.state.addresses import recorded_addresses, server_address

    address = server_address(acct.server, server, recorded_addresses(c.engine))
    if not address:
        raise BubbleError(f"account {account}: server {acct.server} has no address yet")
    if not (files or db or mail):
        raise BubbleError("nothing to migrate: give --files, --db or --mail")
    try:
        plan = Plan(
            account=account,
            files=parse_files_url(files) if files else None,
            databases=[parse_db_url(u) for u in db],
            mail=[parse_mail_arg(m) for m in mail],
            disk_limit_mib=_disk_limit_mib(c, catalog, account),
            mail_target=lambda box: MailTarget(
                address, mail_port, box, ssl=True,
                tls=TlsOptions(cafile=str(mail_cafile) if mail_cafile else None,
                               server_name=mail_tls_name),
            ),
        )  # fmt: skip
        values = read_password_file(password_file) if password_file else {}
        prompt = _prompt if sys.stdin.isatty() and not as_json else None
        secrets = resolve(plan, values, os.environ, prompt)
    except (SourceUrlError, SecretsError) as exc:
        raise BubbleError(str(exc)) from None
    for warning in plan.warnings():
        typer.echo(f"warning: {warning}", err=True)
    # The same ssh settings as `bubble server ssh`: the control plane's key and the host keys
    # known for this server (the lab's own known_hosts for lab servers), checked every time.
    from glue.remote import ssh_options

    target = SshTarget(
        address=address,
        account=account,
        ssh_options=(
            *ssh_options(c.root, server),
            *(arg for opt in ssh_option for arg in ("-o", opt)),
        ),
    )
    runner = Runner(plan, secrets, target, JobStore(c.engine))
    try:
        if as_json:
            report = runner.run(check_only=check, resume=resume)
        else:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            # Labels carry the old host's paths and names: never read as rich markup.
            columns = (TextColumn("{task.description}", markup=False), BarColumn(),
                       DownloadColumn(), TransferSpeedColumn())  # fmt: skip
            with Progress(*columns, transient=False) as progress:
                runner.events = _Bars(progress)
                report = runner.run(check_only=check, resume=resume)
    except MigrationError as exc:
        raise BubbleError(str(exc)) from None
    if as_json:
        print_json(report.to_dict())
    else:
        for line in report.lines():
            typer.echo(line)  # plain text: names from the old host may look like rich markup
    if not report.ok and report.error and not as_json:
        typer.echo(f"error: {report.error}", err=True)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _prompt(what: str) -> str:
    return str(typer.prompt(what, hide_input=True))


def _disk_limit_mib(c: Context, catalog: Catalog, account: str) -> int:
    """The account's disk limit in force now (base, raised by any elastic boost)."""
    from glue.limits import effective_base, limits_in_force
    from glue.state.limits_store import boosts_by_account

    acct = catalog.accounts[account]
    base = effective_base(catalog.plans[acct.plan], acct, c.today)
    return limits_in_force(base, boosts_by_account(c.engine).get(account, {})).disk_mib
