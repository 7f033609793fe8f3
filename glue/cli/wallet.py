"""`bubble wallet ...`: prepaid virtual currency per account."""

from __future__ import annotations

import typer

from glue.cli.common import JsonOption, Outcome, context, print_json, print_table, say

wallet_app = typer.Typer(help="Wallets: credit, show.", no_args_is_help=True)


@wallet_app.command("credit")
def credit(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Account."),
    amount: str = typer.Argument(..., help="Amount, e.g. 25.00."),
    note: str = typer.Option("", help="Why (shown in the ledger)."),
    key: str | None = typer.Option(None, help="Idempotency key: a repeated key is recorded once."),
    as_json: bool = JsonOption,
) -> None:
    """Credit an account's wallet (admin)."""
    from glue.services.wallets import credit as run_credit
    from glue.units import format_money

    out = Outcome(as_json)
    entry = run_credit(context(ctx), name, amount, note, key)
    verb = "credited" if entry.created else "already recorded under this key:"
    amount, balance = format_money(entry.amount_cents), format_money(entry.balance_after_cents)
    out.say(f"{name}: {verb} {amount}; balance {balance}", account=name, amount=amount)
    out.facts.update(balance=balance, created=entry.created, key=entry.key, at=entry.at)
    out.end()


@wallet_app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """Balance, the burn rate of the elastic capacity in force and how long the balance
    lasts at it, and the ledger entries."""
    from glue.services.wallets import wallet

    data = wallet(context(ctx), name)
    if as_json:
        print_json(data)
        return
    if data["lasts_days"] is None:
        burn = "no elastic capacity in force, nothing burns"
    else:
        burn = (
            f"burn {data['burn_per_hour']} an hour: lasts {data['lasts_days']} days at the "
            "current burn"
        )
    say(f"{name}: {burn}")
    print_table(
        f"wallet of {name}: balance {data['balance']}",
        ["at", "kind", "amount", "balance", "note", "key"],
        [
            [e["at"], e["kind"], e["amount"], e["balance_after"], e["note"], e["key"]]
            for e in data["entries"]
        ],
    )
