"""Every change the panel makes, for the API and the pages alike: the service that makes it
(the CLI's own); for the catalog a git commit with the acting person as its author, and for
limits and state the converge to the account's server after the answer. A value that does
not parse is refused naming its field."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import BackgroundTasks

from glue.catalog import account_path, plans_path, servers_path
from glue.errors import BubbleError
from glue.locks import catalog_lock
from glue.models import Account, AccountState, Resource, Server, ServerState
from glue.panel.audit import commit_catalog
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.services import accounts, plans, servers, topups, wallets
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
        # The note names the admin: the ledger is the money's audit log.
        said = f"credited by {who.name}" + (f": {note}" if note else "")
        return wallets.credit(found.context(), name, amount, said, key)


def carry_later(found: Panel, tasks: BackgroundTasks, targets: list[str], limits: bool) -> None:
    """Carry a catalog change to its servers after the answer (as the CLI's --apply does);
    a server not built or not answering keeps it for `bubble apply`."""
    if not found.apply or not targets:
        return
    from glue.services.bubbles import carry
    from glue.services.converge import Operation

    operation = Operation.LIMITS if limits else Operation.ACCOUNTS

    def run() -> None:
        try:
            carried = carry(found.context(), operation, targets, log.info)
            for pending in carried.pending:
                log.warning("%s: the change waits in the catalog for `bubble apply`", pending)
        except Exception:
            log.exception("carrying a change to %s failed; `bubble apply` finishes it",
                          ", ".join(targets))  # fmt: skip

    tasks.add_task(run)


def set_limits(found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
               changes: dict[str, str | int], clear: bool) -> Account:  # fmt: skip
    ctx = found.context()
    with catalog_lock(ctx.root):
        account = accounts.set_overrides(ctx, name, changes, clear)
        message = f"panel: limits of {name}: {changes or 'cleared'}"
        commit_catalog(ctx.root, who, message, [account_path(ctx.root, name)])
    carry_later(found, tasks, [account.server], limits=True)
    return account


def set_state(found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
              state: AccountState) -> Account:  # fmt: skip
    ctx = found.context()
    with catalog_lock(ctx.root):
        account = accounts.set_state(ctx, name, state)
        message = f"panel: account {name} {state.value}"
        commit_catalog(ctx.root, who, message, [account_path(ctx.root, name)])
    carry_later(found, tasks, [account.server], limits=False)
    return account


def set_elastic(found: Panel, who: Principal, name: str, on: bool, cap: int | None) -> Account:
    """Elastic on or off (`cap`: cents a day, None: no cap, accounts.KEEP: as it is); the
    scaler reads it from the catalog, nothing is carried."""
    ctx = found.context()
    with catalog_lock(ctx.root):
        account = accounts.set_elastic(ctx, name, on, cap)
        message = f"panel: elastic {'on' if on else 'off'} for {name}"
        commit_catalog(ctx.root, who, message, [account_path(ctx.root, name)])
    return account


def buy_upgrade(
    found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
    amounts: dict[Resource, str], key: str | None = None,
) -> accounts.Purchase:  # fmt: skip
    ctx = found.context()
    with catalog_lock(ctx.root):
        bought = accounts.buy_upgrade(ctx, name, amounts, key)
        message = f"panel: upgrade of {name} ({bought.key})"
        commit_catalog(ctx.root, who, message, [account_path(ctx.root, name)])
    carry_later(found, tasks, [bought.account.server], limits=True)
    return bought


def request_topup(found: Panel, who: Principal, name: str, amount: str) -> topups.TopUp:
    """A bank-transfer top-up asked for (by the customer, or an admin for it)."""
    return topups.request_transfer(found.context(), name, amount, who.name)


def decide_topup(found: Panel, who: Principal, reference: str,
                 confirm: bool) -> tuple[topups.TopUp, Entry | None]:  # fmt: skip
    """An admin confirms (credits, once) or rejects a bank transfer; the ledger entry's note
    names the admin."""
    return topups.decide(found.context(), reference, confirm, who.name)


def set_plan(found: Panel, tasks: BackgroundTasks, who: Principal, name: str,
             base_changes: dict[str, str | int]) -> plans.PlanChange:  # fmt: skip
    """`bubble plan set`'s service: every account following the plan changes with it."""
    ctx = found.context()
    with catalog_lock(ctx.root):
        change = plans.set_plan(ctx, name, base_changes)
        message = f"panel: plan {name} base: {base_changes}"
        commit_catalog(ctx.root, who, message, [plans_path(ctx.root)])
    carry_later(found, tasks, change.servers, limits=True)
    return change


def set_server_state(found: Panel, who: Principal, name: str, state: ServerState) -> Server:
    """Drain or activate (`bubble server drain/activate`): placement reads it, nothing is
    carried."""
    ctx = found.context()
    with catalog_lock(ctx.root):
        server = servers.set_state(ctx, name, state)
        message = f"panel: server {name} {state.value}"
        commit_catalog(ctx.root, who, message, [servers_path(ctx.root)])
    return server
