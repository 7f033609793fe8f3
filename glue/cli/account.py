"""`bubble account ...`: customer accounts and their bubbles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from glue.cli.common import (
    ApplyOption,
    JsonOption,
    Outcome,
    apply_limits_now,
    carrying,
    context,
    given,
    print_json,
    print_table,
    progress,
    say,
)
from glue.cli.confirm import YesOption, confirm

account_app = typer.Typer(
    help="Accounts: create, show, set limits, upgrade, delete.", no_args_is_help=True
)

ResourceOption = {
    "cpu": typer.Option(None, help="CPU, e.g. 2GHz."),
    "memory": typer.Option(None, help="Memory, e.g. 4GiB."),
    "disk": typer.Option(None, help="Disk, e.g. 50GiB."),
}


@account_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Account name (a-z, 0-9; max 16)."),
    domain: list[str] = typer.Option(..., "--domain", help="Domain (repeatable)."),
    plan: str = typer.Option("base", help="Plan."),
    server: str | None = typer.Option(None, help="Server (default: the least loaded)."),
    email: str | None = typer.Option(None, help="Owner's e-mail."),
    apply: bool = ApplyOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an account on the least loaded server (or --server)."""
    from glue.services.accounts import create_account

    out = Outcome(as_json)
    created = create_account(context(ctx), name, domain, plan, server, email)
    where = created.placement.server
    facts = {"account": name, "server": where, "reason": created.placement.reason}
    if created.again:
        out.say(f"account {name}: {created.placement.reason}", created=False, **facts)
    else:
        out.say(
            f"created account {name} on {where}: {created.placement.reason}", created=True, **facts
        )
    if apply:
        from glue.services.bubbles import carry
        from glue.services.converge import Operation

        with carrying(f"account {name} is") as report:
            carried = carry(context(ctx), Operation.ACCOUNTS, [where], report)
        if carried.done:
            out.say(f"account {name} is live on {where}")
        out.carried(carried)
    out.end()


@account_app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """An account: plan, server, base limits and limits in force, balance."""
    from glue.services.accounts import describe_account

    data = describe_account(context(ctx), name)
    if as_json:
        print_json(data)
        return
    base, in_force = data["base"], data["in_force"]
    say(
        f"{name} on {data['server']}, plan {data['plan']}, {data['state']}, "
        f"elastic {'on' if data['elastic'] else 'off'}, balance {data['balance']}"
    )
    say(f"domains: {', '.join(data['domains'])}")
    print_table(
        "limits",
        ["", "cpu MHz", "memory MiB", "disk MiB", "processes"],
        [
            [label, d["cpu_mhz"], d["memory_mib"], d["disk_mib"], d["processes"]]
            for label, d in (("base", base), ("in force", in_force))
        ],
    )


@account_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """All accounts."""
    from glue.services.accounts import list_accounts

    rows = list_accounts(context(ctx))
    if as_json:
        print_json(rows)
        return
    print_table(
        "accounts",
        ["name", "server", "plan", "state", "elastic", "domains"],
        [
            [r["name"], r["server"], r["plan"], r["state"], r["elastic"], " ".join(r["domains"])]
            for r in rows
        ],
    )


@account_app.command("set")
def set_(
    ctx: typer.Context,
    name: str,
    cpu: str | None = ResourceOption["cpu"],
    memory: str | None = ResourceOption["memory"],
    disk: str | None = ResourceOption["disk"],
    processes: int | None = typer.Option(None, help="Process limit."),
    clear: bool = typer.Option(False, "--clear", help="Remove all overrides (back to the plan)."),
    apply: bool = ApplyOption,
    as_json: bool = JsonOption,
) -> None:
    """Admin override of an account's limits (any value; --clear to drop)."""
    from glue.services.accounts import set_overrides

    changes = given(cpu=cpu, memory=memory, disk=disk, processes=processes)
    if not changes and not clear:
        raise typer.BadParameter("give --cpu, --memory, --disk, --processes or --clear")
    out = Outcome(as_json)
    account = set_overrides(context(ctx), name, changes, clear)
    overrides = account.overrides.model_dump(exclude_none=True)
    done = "cleared" if clear and not changes else "set"
    out.say(f"account {name}: overrides {done} in the catalog", account=name, overrides=overrides)
    if apply:
        apply_limits_now(ctx, [account.server], out)
    out.end()


@account_app.command("elastic")
def elastic(
    ctx: typer.Context,
    name: str,
    switch: str = typer.Argument(..., help="on or off", metavar="on|off"),
    max_daily: str | None = typer.Option(
        None, "--max-daily", help="cap on elastic spend per day, e.g. 5.00 ('none': no cap)"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Switch elastic scaling on or off for an account, optionally with a daily spend cap."""
    from glue.services.accounts import KEEP, set_elastic
    from glue.units import UnitError, format_money, parse_money_cents

    if switch not in ("on", "off"):
        raise typer.BadParameter(f"{switch!r}: say on or off", param_hint="on|off")
    cap: int | None = KEEP
    if max_daily is not None and max_daily.strip().lower() != "none":
        try:
            cap = parse_money_cents(max_daily)
        except UnitError as exc:
            raise typer.BadParameter(str(exc), param_hint="--max-daily") from exc
    elif max_daily is not None:
        cap = None
    out = Outcome(as_json)
    account = set_elastic(context(ctx), name, switch == "on", cap)
    shown = format_money(account.max_daily) if account.max_daily is not None else None
    capped = f", at most {shown} a day" if shown else ""
    out.say(f"account {name}: elastic {switch}{capped}", account=name,
            elastic=switch == "on", max_daily=shown)  # fmt: skip
    out.end()


def _set_state(ctx: typer.Context, name: str, state: str, apply: bool, out: Outcome) -> None:
    from glue.models import AccountState
    from glue.services.accounts import set_state
    from glue.services.bubbles import carry
    from glue.services.converge import Operation

    account = set_state(context(ctx), name, AccountState(state))
    out.say(f"account {name} is now {state} in the catalog", account=name, state=state)
    if apply:
        with carrying(f"account {name} is {state}") as report:
            carried = carry(context(ctx), Operation.ACCOUNTS, [account.server], report)
        if carried.done:
            out.say(f"account {name} is {state} on {account.server}")
        out.carried(carried)
    out.end()


@account_app.command("suspend")
def suspend(
    ctx: typer.Context, name: str, apply: bool = ApplyOption, as_json: bool = JsonOption
) -> None:
    """Stop the account's PHP and FTP logins (files, databases and mail are kept)."""
    _set_state(ctx, name, "suspended", apply, Outcome(as_json))


@account_app.command("resume")
def resume(
    ctx: typer.Context, name: str, apply: bool = ApplyOption, as_json: bool = JsonOption
) -> None:
    """Bring a suspended account back."""
    _set_state(ctx, name, "active", apply, Outcome(as_json))


@account_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    name: str,
    cpu: str | None = typer.Option(None, help="e.g. +1GHz"),
    memory: str | None = typer.Option(None, help="e.g. +1GiB"),
    disk: str | None = typer.Option(None, help="e.g. +10GiB"),
    key: str | None = typer.Option(
        None, help="Idempotency key (default: account, amounts and day: a rerun is one purchase)."
    ),
    apply: bool = ApplyOption,
    as_json: bool = JsonOption,
) -> None:
    """Raise the base permanently for one year; the yearly fee is debited from the wallet."""
    from glue.models import Resource
    from glue.services.accounts import buy_upgrade
    from glue.units import format_money

    amounts: dict[Resource, str] = {}
    if cpu:
        amounts["cpu"] = cpu
    if memory:
        amounts["memory"] = memory
    if disk:
        amounts["disk"] = disk
    out = Outcome(as_json)
    purchase = buy_upgrade(context(ctx), name, amounts, key)
    fee, balance = format_money(purchase.fee_cents), format_money(purchase.balance_cents)
    out.facts.update(
        account=name, key=purchase.key, created=purchase.created, expires=purchase.expires,
        fee=fee if purchase.created else "0.00", balance=balance,
    )  # fmt: skip
    if purchase.created:
        out.say(f"account {name}: upgraded until {purchase.expires}, fee {fee}, balance {balance}")
    else:
        out.say(
            f"account {name}: already bought under key {purchase.key} (until "
            f"{purchase.expires}), nothing charged; balance {balance}"
        )
    if apply:
        apply_limits_now(ctx, [purchase.account.server], out)
    out.end()


@account_app.command("delete")
def delete(
    ctx: typer.Context,
    name: str,
    purge: bool = typer.Option(
        False, "--purge", help="Do not keep an archive of files and databases."
    ),
    apply: bool = ApplyOption,
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete an account: its bubble on the server (archived unless --purge), then the catalog.

    Until its server confirmed the removal the account stays in the catalog as `removing`
    (its domains reserved); the same command or `bubble apply` finishes the job."""
    if purge:
        confirm(f"delete account {name} and its files, databases and mail without an archive", yes)
    kept = "purged" if purge else "archived under /srv/.archive on its server"
    out = Outcome(as_json)
    out.facts.update(account=name, purge=purge)
    if not apply:
        from glue.services.accounts import delete_account

        account = delete_account(context(ctx), name, purge)
        out.say(
            f"account {name}: removal recorded in the catalog ({account.state}); its bubble on "
            f"{account.server} goes with the next `bubble apply`",
            deleted=False,
            state=account.state.value,
        )
        out.end()
        return
    from glue.services.bubbles import remove_account

    with carrying(f"the removal of account {name} is") as report:
        carried = remove_account(context(ctx), name, purge, report)
    out.facts["deleted"] = not carried.pending
    if carried.done:
        out.say(f"deleted account {name} ({kept})")
    elif not carried.pending:
        out.say(f"deleted account {name} (its server was never built: nothing to remove there)")
    out.carried(carried)
    out.end()


@account_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def exec_(
    ctx: typer.Context,
    name: str,
    command: list[str] = typer.Argument(..., help="Command (after --)."),
) -> None:
    """Run a command on the account's server as the account, inside its bubble, in its home.

    Its stdin is yours (`echo hi | bubble account exec NAME -- cat`); its exit code is ours."""
    import subprocess

    from glue.remote import account_exec_argv
    from glue.services.accounts import require_account

    c = context(ctx)
    catalog = c.catalog()
    account = require_account(catalog, name)
    server = catalog.servers[account.server]
    argv = account_exec_argv(c, account.server, server, name, command)
    raise typer.Exit(subprocess.run(argv, check=False).returncode)


def _password(password_file: Path | None) -> str:
    """From --password-file (its first line), else BUBBLE_PASSWORD, else a hidden prompt
    (asked twice). The file is checked like `bubble migrate --password-file`'s."""
    import os

    if password_file is not None:
        from glue.errors import BubbleError
        from migrator.secrets import SecretsError, read_secret_file

        try:
            first = read_secret_file(password_file).splitlines()[0]
        except SecretsError as exc:
            raise BubbleError(str(exc)) from None
        if not first:
            raise BubbleError(f"password file {password_file}: the first line is empty")
        return first
    if os.environ.get("BUBBLE_PASSWORD"):
        return os.environ["BUBBLE_PASSWORD"]
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


PasswordFileOption = typer.Option(
    None, "--password-file", help="File whose first line is the password."
)


@account_app.command("mailbox")
def mailbox(
    ctx: typer.Context,
    name: str,
    address: str = typer.Argument(
        ..., help="e.g. info@alice.example (one of the account's domains)."
    ),
    delete: bool = typer.Option(False, "--delete", help="Remove the mailbox (its mail is kept)."),
    password_file: Path | None = PasswordFileOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a mailbox or set its password (password from a file, BUBBLE_PASSWORD or a prompt)."""
    from glue.services.credentials import set_mailbox

    out = Outcome(as_json)
    set_mailbox(context(ctx), name, address, None if delete else _password(password_file))
    done = "deleted" if delete else "ready"
    out.say(f"mailbox {address}: {done}", account=name, mailbox=address, state=done)
    out.end()


@account_app.command("mailboxes")
def mailboxes(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """The account's mailboxes as its server's Dovecot knows them (migrated ones included)."""
    from glue.services.credentials import list_mailboxes

    found = list_mailboxes(context(ctx), name)
    if as_json:
        print_json(found)
        return
    for address in found:
        say(address)


@account_app.command("ftp-password")
def ftp_password(
    ctx: typer.Context,
    name: str,
    password_file: Path | None = PasswordFileOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the account's FTP password (its login is the account name)."""
    from glue.services.credentials import set_ftp_password

    out = Outcome(as_json)
    set_ftp_password(context(ctx), name, _password(password_file))
    out.say(f"FTP login {name}: password set", account=name, ftp_login=name)
    out.end()


def _known(ctx: typer.Context, name: str) -> None:
    """An account name that is not in the catalog is bad input: one line, exit 2."""
    if name not in context(ctx).catalog().accounts:
        raise typer.BadParameter(f"unknown account {name!r}", param_hint="NAME")


@account_app.command("usage")
def usage(
    ctx: typer.Context,
    name: str,
    since: str = typer.Option("1h", "--since", help="How far back: 30m, 1h, 2d."),
    as_json: bool = JsonOption,
) -> None:
    """The account's samples from InfluxDB: per resource its use and limit, and the faults
    (CPU throttled periods, memory at its max, OOM kills) since the sample before."""
    from glue.services.usage import account_usage
    from scaler.influx import duration_seconds

    try:
        seconds = duration_seconds(since)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise typer.BadParameter(
            f"{since!r}: a duration such as 30m, 1h or 2d", param_hint="--since"
        )
    _known(ctx, name)
    rows = account_usage(context(ctx), name, seconds)
    if as_json:
        print_json(rows)
        return

    def pair(row: dict[str, Any], resource: str) -> str:
        use, limit = row[resource]["use"], row[resource]["limit"]
        return f"{'-' if use is None else use} / {'-' if limit is None else limit}"

    print_table(
        f"usage of {name}, last {since} (use / limit)",
        ["at", "cpu MHz", "memory MiB", "disk MiB", "events"],
        [
            [r["at"], pair(r, "cpu"), pair(r, "memory"), pair(r, "disk"),
             " ".join(f"{k} {n}" for k, n in r["events"].items() if n)]
            for r in rows
        ],
    )  # fmt: skip


@account_app.command("history")
def history(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """Every limit change (raise, lower), deferral and charge of the account, oldest first."""
    from glue.services.history import account_history

    _known(ctx, name)
    rows = account_history(context(ctx), name)
    if as_json:
        print_json(rows)
        return

    def what(row: dict[str, Any]) -> str:
        if row["kind"] == "charge":
            return f"{row['amount']} ({row['note']})"
        return f"{row['resource']} {row['from']} -> {row['to']}: {row['reason']}"

    print_table(
        f"history of {name}", ["at", "kind", "what"], [[r["at"], r["kind"], what(r)] for r in rows]
    )


@account_app.command("move")
def move(
    ctx: typer.Context,
    name: str,
    to: str | None = typer.Option(None, "--to", help="The server to move the account to."),
    finish: bool = typer.Option(
        False,
        "--finish",
        help="DNS has moved: remove it (and its proxy) from the old server.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Move an account to another server while its site runs (a short freeze at the end);
    the old server proxies its domains until `--finish`. Run again to resume a stopped move."""
    from glue.errors import BubbleError
    from glue.services.moves import finish_move, move_account

    out = Outcome(as_json)
    with progress() as report:
        if finish:
            done = finish_move(context(ctx), name, report)
        elif to is None:
            raise BubbleError("give --to SERVER (or --finish once DNS has moved)")
        else:
            done = move_account(context(ctx), name, to, report)
    if finish:
        out.say(f"account {name}: removed from {done['from']}; it is served from {done['to']}",
                **done)  # fmt: skip
    else:
        out.say(
            f"account {name} moved to {done['to']}: point its domains at {done['address']} "
            f"(downtime {done['downtime_ms'] / 1000:.1f} s); `bubble account move {name} "
            "--finish` once DNS has moved",
            **done,
        )
    out.end()
