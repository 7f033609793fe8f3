"""`bubble migrate ACCOUNT`: move a site, its databases and mailboxes from another host.

Thin: options in, the report out. glue/services/migration.py does the work (the account's
server, address and disk limit, the passwords, the job record) with the migrator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from glue.cli.common import JsonOption, context, print_json

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

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
    from glue.services.migration import MigrationRequest, prepare_migration

    request = MigrationRequest(
        account=account,
        files=files,
        databases=tuple(db),
        mail=tuple(mail),
        check_only=check,
        resume=resume,
        password_file=password_file,
        ssh_options=tuple(ssh_option),
        mail_port=mail_port,
        mail_cafile=mail_cafile,
        mail_tls_name=mail_tls_name,
    )
    prompt = _prompt if sys.stdin.isatty() and not as_json else None
    migration = prepare_migration(context(ctx), request, prompt)
    for warning in migration.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        report = migration.run()
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
            report = migration.run(_Bars(progress))
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
