"""`bubble backup ...`: borg archives of every account on its backup server."""

from __future__ import annotations

import typer

from glue.cli.common import JsonOption, context, print_json, print_table, say
from glue.errors import BubbleError

backup_app = typer.Typer(help="Backups: run, list, prune, check, keys.", no_args_is_help=True)
keys_app = typer.Typer(help="The repositories' keys.", no_args_is_help=True)
backup_app.add_typer(keys_app, name="keys")


def _failed(rows: list[dict[str, object]]) -> None:
    if any(not row.get("ok", True) for row in rows):
        raise typer.Exit(1)


@backup_app.command("run")
def run(
    ctx: typer.Context,
    server: str | None = typer.Option(None, help="Only the accounts of this web server."),
    account: str | None = typer.Option(None, help="Only this account."),
    as_json: bool = JsonOption,
) -> None:
    """Back up now (the timer on each web server does it on schedule)."""
    from glue.services.backups import run as run_backups

    if server and account:
        raise BubbleError("give --server or --account, not both")
    rows = run_backups(context(ctx), server, account)
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            if row.get("ok"):
                say(f"{row['account']}: {row['archive']} ({row['size']} bytes) on {row['server']}")
            else:
                say(f"{row['account']}: FAILED on {row['server']}: {row.get('error')}")
    _failed(rows)


@backup_app.command("list")
def list_(ctx: typer.Context, account: str, as_json: bool = JsonOption) -> None:
    """An account's archives: name, time, size, what each holds."""
    from glue.services.backups import list_archives

    rows = list_archives(context(ctx), account)
    if as_json:
        print_json(rows)
        return
    print_table(
        f"backups of {account}",
        ["archive", "time", "size", "databases", "mailboxes"],
        [
            [
                r["archive"],
                r["time"],
                r["size"],
                ", ".join(r["databases"]),
                ", ".join(r["mailboxes"]),
            ]
            for r in rows
        ],
    )


@backup_app.command("prune")
def prune(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Apply the catalog's retention to every account's archives (the control plane alone
    can: the web servers' keys are append-only)."""
    from glue.services.backups import prune as run_prune

    rows = run_prune(context(ctx))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        say(f"{row['account']} on {row['server']}: {len(row['deleted'])} archive(s) pruned")


@backup_app.command("check")
def check(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check every repository (borg check); exit 1 when one fails."""
    from glue.services.backups import check as run_check

    rows = run_check(context(ctx))
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            say(f"{row['server']}: {'ok' if row['ok'] else row.get('error')}")
    _failed(rows)


@keys_app.command("export")
def export(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Where each repository's key and passphrase are, and how to keep them."""
    from glue.services.backups import key_files

    rows = key_files(context(ctx))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        state = "" if row["exported"] == "true" else " (not yet: made at the first backup)"
        say(f"{row['server']}: key {row['key']}{state}, passphrase {row['passphrase']}")
    say(
        "Keep a copy of BOTH files of every server away from the control machine and the "
        "backup server (a password manager or an offline medium): without them no archive "
        "can ever be read. They are 0600; never paste them into a ticket or a chat."
    )


@backup_app.command("restore")
def restore(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="Whose archive."),
    archive: str | None = typer.Option(None, help="Default: the account's latest."),
    path: str | None = typer.Option(None, help="A path relative to the home (www/..., mail/...)."),
    db: str | None = typer.Option(None, help="One database (NAME_...)."),
    mailbox: str | None = typer.Option(None, help="One mailbox (address)."),
    everything: bool = typer.Option(False, "--all", help="Files, mailboxes and databases."),
    to_account: str | None = typer.Option(None, help="Into this account (same server)."),
    as_json: bool = JsonOption,
) -> None:
    """Restore from a backup, in place (what is replaced is kept aside) or into another
    account; databases are loaded as the account's own database user."""
    from glue.services.backups import restore as run_restore

    chosen = [f"path:{path}" if path else "", f"db:{db}" if db else "",
              f"mailbox:{mailbox}" if mailbox else "", "all" if everything else ""]  # fmt: skip
    what = [c for c in chosen if c]
    if len(what) != 1:
        raise BubbleError("give exactly one of --path, --db, --mailbox, --all")
    result = run_restore(context(ctx), account, what[0], archive, to_account)
    if as_json:
        print_json(result)
        return
    restored = [*result["paths"], *result["databases"]]
    if result.get("mail_logins"):
        restored.append(f"{result['mail_logins']} mailbox login(s)")
    say(f"{result['account']}: restored {', '.join(restored)} from {result['archive']}")
