"""Every change the panel makes, for the API and the pages alike: the service that makes it
(the CLI's own); for the catalog a git commit with the acting person as its author, and for
limits and state the converge to the account's server after the answer. A value that does
not parse is refused naming its field."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import BackgroundTasks

from glue.errors import BubbleError
from glue.models import Account, AccountState, Resource
from glue.panel.audit import commit_catalog
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.services import accounts, topups, wallets
from glue.state.ledger import Entry
from glue.units import UnitError, parse_money_cents

log = logging.getLogger("bubble.panel")


@contextmanager
def naming(field: str) -> Iterator[None]:
    """A value the services could not parse, refused with the name of its field."""
    try:
        yield
    except UnitError as exc:
        raise BubbleError(f"{field}: {exc}") from None


def daily_cap(text: str | None) -> int | None:
    """The elastic daily cap in cents; empty or None: no cap."""
    with naming("max_daily"):
        return parse_money_cents(text) if text and text.strip() else None


def credit(found: Panel, who: Principal, name: str, amount: str, note: str = "",
           key: str | None = None) -> Entry:  # fmt: skip
    with naming("amount"):
        return wallets.credit(found.context(), name, amount, note or f"credited by {who.name}",
                              key)  # fmt: skip


def carry_later(found: Panel, tasks: BackgroundTasks, server: str, limits: bool) -> None:
    """Carry a catalog change to its server after the answer (as the CLI's --apply does);
    a server not built or not answering keeps it for `bubble apply`."""
    if not found.apply:
        return
    from glue.services.bubbles import carry
    from glue.services.converge import Operation

    operation = Operation.LIMITS if limits else Operation.ACCOUNTS

    def run() -> None:
        try:
            carried = carry(found.context(), operation, [server], log.info)
            for pending in carried.pending:
                log.warning("%s: the change waits in the catalog for `bubble apply`", pending)
        except Exception:
            log.exception("carrying a change to %s failed; `bubble apply` finishes it", server)

    tasks.add_task(run)


def set_limits(found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
               changes: dict[str, str | int], clear: bool) -> Account:  # fmt: skip
    ctx = found.context()
    account = accounts.set_overrides(ctx, name, changes, clear)
    commit_catalog(ctx.root, who, f"panel: limits of {name}: {changes or 'cleared'}")
    carry_later(found, tasks, account.server, limits=True)
    return account


def set_state(found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
              state: AccountState) -> Account:  # fmt: skip
    ctx = found.context()
    account = accounts.set_state(ctx, name, state)
    commit_catalog(ctx.root, who, f"panel: account {name} {state.value}")
    carry_later(found, tasks, account.server, limits=False)
    return account


def set_elastic(found: Panel, who: Principal, name: str, on: bool, cap: int | None) -> Account:
    """Elastic on or off (`cap`: cents a day, None: no cap, accounts.KEEP: as it is); the
    scaler reads it from the catalog, nothing is carried."""
    ctx = found.context()
    account = accounts.set_elastic(ctx, name, on, cap)
    commit_catalog(ctx.root, who, f"panel: elastic {'on' if on else 'off'} for {name}")
    return account


def buy_upgrade(
    found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
    amounts: dict[Resource, str], key: str | None = None,
) -> accounts.Purchase:  # fmt: skip
    ctx = found.context()
    bought = accounts.buy_upgrade(ctx, name, amounts, key)
    commit_catalog(ctx.root, who, f"panel: upgrade of {name} ({bought.key})")
    carry_later(found, tasks, bought.account.server, limits=True)
    return bought


def request_topup(found: Panel, who: Principal, name: str, amount: str) -> topups.TopUp:
    """A bank-transfer top-up asked for (by the customer, or an admin for it)."""
    return topups.request_transfer(found.context(), name, amount, who.name)


def decide_topup(found: Panel, who: Principal, reference: str,
                 confirm: bool) -> tuple[topups.TopUp, Entry | None]:  # fmt: skip
    """An admin confirms (credits, once) or rejects a bank transfer; the ledger entry's note
    names the admin."""
    return topups.decide(found.context(), reference, confirm, who.name)
