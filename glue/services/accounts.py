"""Accounts: create (placed on the least loaded server), change limits, upgrade, delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from glue.catalog import Catalog, account_data, remove_account_file, save_account, validated
from glue.errors import BubbleError
from glue.limits import effective_base, limits_in_force
from glue.models import (
    ACCOUNT_NAME_RE,
    Account,
    AccountState,
    Limits,
    Resource,
    Upgrade,
    parse_resource,
)
from glue.placement import Placement, choose_server
from glue.services.context import Context
from glue.services.root import render
from glue.state.boosts import boosts_at, close_boosts
from glue.state.logins import forget_customer_login
from glue.state.purchases import paid_upgrades, purchased, record_purchase
from glue.units import format_cpu, format_money, format_size

DEFAULT_PLAN = "base"


def account_home(name: str) -> str:
    return f"/srv/{name}"


def account_web_root(name: str) -> str:
    return f"/srv/{name}/www"


def require_account(catalog: Catalog, name: str, leaving_ok: bool = False) -> Account:
    """The account; one being removed only where `leaving_ok` (delete, show): nothing else
    may change or use an account whose bubble is on its way out."""
    if name not in catalog.accounts:
        raise BubbleError(f"unknown account {name!r}")
    account = catalog.accounts[name]
    if account.state.leaving and not leaving_ok:
        raise BubbleError(
            f"account {name!r} is being removed (`bubble account delete {name}` or "
            "`bubble apply` finishes that)"
        )
    return account


@dataclass(frozen=True)
class Created:
    account: Account
    placement: Placement
    again: bool = False  # it was in the catalog already, as asked: only carried to its server


def _differences(
    account: Account, domains: list[str], plan: str, server: str | None, email: str | None
) -> list[str]:
    """How a create request differs from the account already in the catalog."""
    asked: dict[str, Any] = {"domains": list(domains), "plan": plan, "email": email}
    have: dict[str, Any] = {"domains": list(account.domains), "plan": account.plan,
                            "email": account.email}  # fmt: skip
    if server is not None:
        asked["server"], have["server"] = server, account.server

    def shown(value: Any) -> str:
        return " ".join(value) if isinstance(value, list) else str(value or "none")

    return [
        f"{key} {shown(have[key])} (asked: {shown(asked[key])})"
        for key in asked
        if asked[key] != have[key]
    ]


def _again(name: str, account: Account, differences: list[str]) -> Created:
    """A create of an account already in the catalog: the same request is carried to the
    server again (a re-run after a failed server step); a different one is refused."""
    if account.state.leaving:
        raise BubbleError(
            f"account {name!r} is being removed; create it again once that is done "
            f"(`bubble account delete {name}` or `bubble apply` finishes the removal)"
        )
    if differences:
        raise BubbleError(
            f"account {name!r} already exists on {account.server} with other settings: "
            + "; ".join(differences)
        )
    reason = f"already in the catalog on {account.server}, as asked"
    return Created(account, Placement(account.server, reason), again=True)


def create_account(
    ctx: Context,
    name: str,
    domains: list[str],
    plan: str = DEFAULT_PLAN,
    server: str | None = None,
    email: str | None = None,
) -> Created:
    if not ACCOUNT_NAME_RE.fullmatch(name):
        raise BubbleError(
            f"{name!r} is not a valid account name (a-z and 0-9, starting with a letter, "
            "at most 16 characters)"
        )
    with ctx.editing() as catalog:
        if name in catalog.accounts:
            existing = catalog.accounts[name]
            return _again(name, existing, _differences(existing, domains, plan, server, email))
        if plan not in catalog.plans:
            raise BubbleError(f"unknown plan {plan!r} (known: {', '.join(sorted(catalog.plans))})")
        base = catalog.plans[plan].base
        if server is None:
            placement = choose_server(catalog, base, ctx.today)
        elif server not in catalog.servers:
            raise BubbleError(f"unknown server {server!r}")
        else:
            placement = Placement(server, f"{server} was chosen by the operator (--server)")
        account = validated(
            Account,
            {
                "plan": plan,
                "server": placement.server,
                "domains": domains,
                "email": email,
                "created": ctx.today,
            },
            f"account {name!r}",
        )
        save_account(catalog.with_account(name, account), name)
    return Created(account, placement)


def _update(ctx: Context, name: str, change: Callable[[Account], dict[str, Any]]) -> Account:
    """Read-modify-write of one account under the catalog lock: `change` gets the account
    as it is now and returns the fields to replace, in the catalog's own form (what the
    file says: money as "5.00", never an integer of cents, which would read as whole units)."""
    with ctx.editing() as catalog:
        account = require_account(catalog, name)
        updated = validated(
            Account, {**account_data(account), **change(account)}, f"account {name!r}"
        )
        save_account(catalog.with_account(name, updated), name)
    return updated


def set_overrides(ctx: Context, name: str, changes: dict[str, str | int], clear: bool) -> Account:
    """Admin overrides per resource; `clear` drops them all first (back to the plan)."""

    def overrides(account: Account) -> dict[str, Any]:
        current = {} if clear else account.overrides.model_dump(by_alias=True, exclude_none=True)
        return {"overrides": {**current, **changes}}

    return _update(ctx, name, overrides)


KEEP = -1  # set_elastic: leave the daily spend cap as it is


def set_elastic(ctx: Context, name: str, on: bool, max_daily: int | None = KEEP) -> Account:
    """Elastic scaling on or off; `max_daily` (cents, None: no cap) is the customer's own cap
    on elastic spend per day, which the scaler's caps respect."""
    changes: dict[str, Any] = {"elastic": on}
    if max_daily is None or max_daily >= 0:
        changes["max_daily"] = None if max_daily is None else format_money(max_daily)
    return _update(ctx, name, lambda _: changes)


def set_state(ctx: Context, name: str, state: AccountState) -> Account:
    return _update(ctx, name, lambda _: {"state": state.value})


def one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


@dataclass(frozen=True)
class Purchase:
    account: Account
    fee_cents: int
    expires: dt.date
    balance_cents: int
    key: str = ""
    created: bool = True  # False: bought before under this key, nothing charged this time


def buy_upgrade(
    ctx: Context, name: str, amounts: dict[Resource, str], key: str | None = None
) -> Purchase:
    """Raise the base permanently for a year; the yearly fee is debited from the wallet.

    Recorded exactly once, whatever fails or crashes where. Under the catalog lock, the charge
    and what it bought commit together in the state DB (the truth of the purchase); then the
    catalog gets the upgrade, under the same key. The default key is the request itself
    (account, amounts, day): running the same command again the same day, after a failed
    apply or a crash, finds the purchase and charges nothing. Every call also writes into the
    catalog any paid upgrade it lacks (a crash between the commit and the catalog write).
    An upgrade in the catalog whose key the ledger does not know was put there by a person
    (no command writes one before its charge commits): it is honoured as written, never billed.
    """
    if not amounts:
        raise BubbleError("give at least one of --cpu, --memory, --disk")
    with ctx.editing() as catalog:
        account = require_account(catalog, name)
        order, fee = _upgrade_order(catalog, account, amounts)
        key = key or _default_upgrade_key(name, order, ctx.today)
        expires = one_year_after(ctx.today)
        wanted = [
            Upgrade(resource=resource, amount=amount, expires=expires, key=f"{key}#{index}")
            for index, (resource, amount) in enumerate(order.items())
        ]
        _add_upgrades(account, name, wanted)  # a bad catalog entry is refused before any charge
        with ctx.ledger.transaction() as connection:
            entry = ctx.ledger.post(
                connection, name, -fee, "upgrade", key, f"{_describe(order)} until {expires}"
            )
            if entry.created:
                record_purchase(connection, name, key, wanted)
            else:
                expires = _same_purchase(key, purchased(connection, key), order, expires)
        account = _with_paid_upgrades(ctx, catalog, name)
    balance = entry.balance_after_cents if entry.created else ctx.ledger.balance(name)
    return Purchase(account, -entry.amount_cents, expires, balance, key, entry.created)


def upgrade_quote(ctx: Context, name: str, amounts: dict[Resource, str]) -> dict[str, Any]:
    """What `buy_upgrade` with these amounts would charge now, and whether the wallet covers
    it: shown before the purchase (the panel)."""
    if not amounts:
        raise BubbleError("give at least one of cpu, memory, disk")
    catalog = ctx.catalog()
    order, fee = _upgrade_order(catalog, require_account(catalog, name), amounts)
    balance = ctx.ledger.balance(name)
    return {"account": name, "upgrade": _describe(order), "fee": format_money(fee),
            "fee_cents": fee, "expires": one_year_after(ctx.today).isoformat(),
            "balance": format_money(balance), "covered": balance >= fee}  # fmt: skip


def delete_account(ctx: Context, name: str, purge: bool = False) -> Account:
    """Ask for the account's removal: the catalog records it (`state: removing`, or `purging`
    without an archive); the next converge of its server removes the bubble, and only then
    does `finish_removals` delete the catalog file. Asking again records the latest wish."""
    state = AccountState.PURGING if purge else AccountState.REMOVING
    with ctx.editing() as catalog:
        account = require_account(catalog, name, leaving_ok=True)
        updated = account.model_copy(update={"state": state})
        if updated != account:
            save_account(catalog.with_account(name, updated), name)
    return updated


def finish_removals(
    ctx: Context, catalog: Catalog, servers: Sequence[str], report: Callable[[str], None]
) -> list[str]:
    """After a converge of `servers` succeeded: the accounts being removed there in `catalog`
    (the one that converge was rendered from) are gone from their server, so their catalog
    files, boosts and panel logins go too, under the catalog lock, and the inventory is
    rendered again."""
    asked = {
        name: account
        for name, account in catalog.accounts.items()
        if account.state.leaving and account.server in servers
    }
    if not asked:
        return []
    done: list[str] = []
    with ctx.editing() as current:
        for name, account in sorted(asked.items()):
            now = current.accounts.get(name)
            if now is None or not now.state.leaving or now.server != account.server:
                continue
            remove_account_file(ctx.root, name)
            close_boosts(ctx.engine, name)
            forget_customer_login(ctx.engine, name)
            current = current.without_account(name)
            done.append(name)
            report(f"{account.server}: account {name} removed")
        if done:
            render(ctx, current, servers)
    return done


def limits_dict(limits: Limits) -> dict[str, Any]:
    return limits.model_dump()


def _summary(name: str, account: Account, base: Limits) -> dict[str, Any]:
    """What `account list` shows of an account; `account show` adds to it."""
    return {
        "name": name,
        "server": account.server,
        "plan": account.plan,
        "state": account.state.value,
        "elastic": account.elastic,
        "domains": list(account.domains),
        "base": limits_dict(base),
    }


def describe_account(ctx: Context, name: str) -> dict[str, Any]:
    catalog = ctx.catalog()
    account = require_account(catalog, name, leaving_ok=True)
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    in_force = limits_in_force(catalog, boosts_at(ctx.engine), ctx.today, [name])[name]
    return {
        **_summary(name, account, base),
        "email": account.email,
        "in_force": limits_dict(in_force),
        "overrides": account.overrides.model_dump(exclude_none=True),
        "upgrades": [
            {"resource": u.resource, "amount": u.amount, "expires": u.expires.isoformat()}
            for u in account.upgrades
            if u.expires > ctx.today
        ],
        "balance": format_money(ctx.ledger.balance(name)),
        "home": account_home(name),
        "web_root": account_web_root(name),
    }


def find_accounts(catalog: Catalog, q: str = "") -> list[str]:
    """The names, sorted, of the accounts whose name or one of whose domains holds `q`
    (any case; empty: every account): the panel's search, on its pages and in its API."""
    needle = q.strip().lower()
    return [
        name for name, account in sorted(catalog.accounts.items())
        if needle in name or any(needle in d for d in account.domains)
    ]  # fmt: skip


def list_accounts(ctx: Context, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every account's summary by name, or only those `names` (a page of them), in order."""
    catalog = ctx.catalog()
    chosen = sorted(catalog.accounts) if names is None else names
    return [
        _summary(name, acct, effective_base(catalog.plans[acct.plan], acct, ctx.today))
        for name, acct in ((n, catalog.accounts[n]) for n in chosen)
    ]


# ------------------------------------------------------------------ upgrade purchase helpers


def _upgrade_order(
    catalog: Catalog, account: Account, amounts: dict[Resource, str]
) -> tuple[dict[Resource, int], int]:
    """The amounts asked for, parsed and checked against the plan's rules, and their fee."""
    plan = catalog.plans[account.plan]
    order: dict[Resource, int] = {}
    fee = 0
    for resource, text in sorted(amounts.items()):
        amount = parse_resource(resource, text.lstrip("+"))
        rule = plan.upgrade.get(resource)
        if rule is None:
            raise BubbleError(f"plan {account.plan!r} offers no {resource} upgrades")
        if amount % rule.step:
            raise BubbleError(
                f"--{resource} {text}: upgrades come in steps of {_format(resource, rule.step)}"
            )
        order[resource] = amount
        fee += amount // rule.step * rule.yearly_price
    return order, fee


def _format(resource: Resource, amount: int) -> str:
    return format_cpu(amount) if resource == "cpu" else format_size(amount)


def _describe(order: dict[Resource, int]) -> str:
    return ", ".join(
        f"{resource} +{_format(resource, amount)}" for resource, amount in order.items()
    )


def _default_upgrade_key(name: str, order: dict[Resource, int], today: dt.date) -> str:
    """The request as a key: the same upgrade asked again the same day is the same purchase
    (a second identical one that day needs a --key of its own)."""
    wanted = ",".join(f"{resource}+{amount}" for resource, amount in order.items())
    return f"upgrade:{name}:{today.isoformat()}:{wanted}"


def _same_purchase(
    key: str, recorded: list[Upgrade], order: dict[Resource, int], expires: dt.date
) -> dt.date:
    """The expiry of the purchase already recorded under `key`, if it bought `order`."""
    if not recorded:  # bought before migration 0003 recorded purchases: nothing to compare
        return expires
    if {u.resource: u.amount for u in recorded} != order:
        raise BubbleError(
            f"key {key!r} was already used for another upgrade "
            f"({_describe({u.resource: u.amount for u in recorded})})"
        )
    return recorded[0].expires


def _with_paid_upgrades(ctx: Context, catalog: Catalog, name: str) -> Account:
    """The account with every paid upgrade still in force, writing those it lacks (under the
    caller's catalog lock)."""
    account = catalog.accounts[name]
    have = {u.key for u in account.upgrades}
    missing = [u for u in paid_upgrades(ctx.engine, name, ctx.today) if u.key not in have]
    if not missing:
        return account
    updated = _add_upgrades(account, name, missing)
    save_account(catalog.with_account(name, updated), name)
    return updated


def _add_upgrades(account: Account, name: str, upgrades: list[Upgrade]) -> Account:
    # The account in its catalog form, as _update reads it: a model dump would give the daily
    # cap as an integer of cents, which validates as whole units (a cap 100 times higher).
    current = account_data(account)
    extra = [u.model_dump() for u in upgrades]  # amounts in MHz / MiB, which integers mean
    return validated(
        Account, {**current, "upgrades": [*current.get("upgrades", []), *extra]},
        f"account {name!r}",
    )  # fmt: skip
