"""The wallet ledger: every credit and charge is an entry with a unique key; an account's
balance is the sum of its entries, kept as a running balance on its wallet row.

Each post locks the wallet row for its transaction (SELECT ... FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite), so concurrent writers queue instead of losing an entry, and a
debit that the balance does not cover is refused with nothing written (elastic charges use
`charge_at_most_balance`, which takes what is there instead). A key belongs to one
entry on one account: reusing it for anything else is refused by name. No entry carries
more than MAX_MONEY_CENTS and no balance exceeds MAX_BALANCE_CENTS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from glue.errors import BubbleError
from glue.state.schema import ledger_entries, wallets
from glue.units import MAX_MONEY_CENTS, format_money

KINDS = ("credit", "charge", "upgrade", "refund")
# No wallet holds more than this (10 trillion): sums of entries stay far inside BIGINT.
MAX_BALANCE_CENTS = 10**15


class LedgerError(BubbleError):
    """An entry that cannot be posted; the message names the account, key or amount."""


class InsufficientFunds(LedgerError):
    pass


@dataclass(frozen=True)
class Entry:
    account: str
    amount_cents: int
    kind: str
    key: str
    note: str
    at: dt.datetime
    balance_after_cents: int
    created: bool = True  # False when the key had already been posted


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; posts inside it commit or roll back together with the caller's work."""
        with self.engine.begin() as connection:
            yield connection

    def post(
        self,
        connection: Connection,
        account: str,
        amount_cents: int,
        kind: str,
        key: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Entry:
        """Add one entry, or return the entry already posted under `key`."""
        _check(account, amount_cents, kind, key)
        existing = self._lock_and_find(connection, account, key)
        if existing is not None:
            if (existing.account, existing.amount_cents, existing.kind) != (
                account,
                amount_cents,
                kind,
            ):
                raise _key_taken(key, existing)
            return _entry(existing, created=False)
        after = _locked_balance(connection, account) + amount_cents
        return self._insert(
            connection, Entry(account, amount_cents, kind, key, note, at or utcnow(), after)
        )

    def _insert(self, connection: Connection, entry: Entry) -> Entry:
        """Write a checked entry (its balance after it included): the wallet is locked and its
        key free."""
        balance = entry.balance_after_cents - entry.amount_cents
        if entry.amount_cents < 0 and entry.balance_after_cents < 0:
            raise InsufficientFunds(
                f"{entry.account}: balance {format_money(balance)} does not cover "
                f"{format_money(-entry.amount_cents)}"
            )
        if entry.balance_after_cents > MAX_BALANCE_CENTS:
            raise LedgerError(
                f"{entry.account}: a balance above {format_money(MAX_BALANCE_CENTS)} is refused"
            )
        row = {f: getattr(entry, f) for f in ("account", "amount_cents", "kind", "key", "note")}
        try:
            connection.execute(
                insert(ledger_entries).values(
                    **row, at=entry.at, balance_after_cents=entry.balance_after_cents
                )
            )
        except IntegrityError as exc:
            # Only on PostgreSQL: another account's wallet lock does not stop a writer of the
            # same key, whose entry committed between our look-up and this insert.
            raise LedgerError(f"key {entry.key!r} was already used for a different entry") from exc
        connection.execute(
            update(wallets)
            .where(wallets.c.account == entry.account)
            .values(balance_cents=entry.balance_after_cents)
        )
        return replace(entry, at=as_utc(entry.at))

    def charge_at_most_balance(
        self,
        connection: Connection,
        account: str,
        due_cents: int,
        key: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Entry | None:
        """Charge `due_cents`, or the whole balance when it covers less, never below zero.

        Returns the entry already posted under `key` whatever its amount (the balance decided
        it then), or None when the wallet is empty (nothing written: 0.00 is not an entry)."""
        if due_cents <= 0:
            raise LedgerError(f"{account}: a charge of {format_money(due_cents)} is not a charge")
        existing = self._lock_and_find(connection, account, key)
        if existing is not None:
            if (existing.account, existing.kind) != (account, "charge"):
                raise _key_taken(key, existing)
            return _entry(existing, created=False)
        balance = _locked_balance(connection, account)
        amount = min(due_cents, balance)
        if amount <= 0:
            return None
        _check(account, -amount, "charge", key)
        # The wallet is locked and the key free: post's look-ups need not run again.
        entry = Entry(account, -amount, "charge", key, note, at or utcnow(), balance - amount)
        return self._insert(connection, entry)

    def _lock_and_find(self, connection: Connection, account: str, key: str) -> Any:
        """Lock the account's wallet, then look up the entry already posted under `key`."""
        self._lock_wallet(connection, account)
        return connection.execute(
            select(ledger_entries).where(ledger_entries.c.key == key)
        ).one_or_none()

    def _lock_wallet(self, connection: Connection, account: str) -> None:
        dialect = connection.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(wallets)
        connection.execute(
            ins.values(account=account, balance_cents=0).on_conflict_do_nothing(
                index_elements=["account"]
            )
        )
        # On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE).
        if dialect == "postgresql":
            connection.execute(
                select(wallets.c.account).where(wallets.c.account == account).with_for_update()
            )

    def balance(self, account: str) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(
                select(wallets.c.balance_cents).where(wallets.c.account == account)
            ).scalar_one_or_none()
        return int(value or 0)

    def sum_of_entries(self, account: str) -> int:
        """The balance recomputed from the entries (an audit check of the running balance)."""
        with self.engine.connect() as connection:
            value = connection.execute(
                select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0)).where(
                    ledger_entries.c.account == account
                )
            ).scalar_one()
        return int(value)

    def recent(self, limit: int = 100) -> list[Entry]:
        """Every account's newest entries, newest first (the audit log's money)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(ledger_entries).order_by(ledger_entries.c.id.desc()).limit(limit)
            ).all()
        return [_entry(row) for row in rows]

    def entries(self, account: str) -> list[Entry]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(ledger_entries)
                .where(ledger_entries.c.account == account)
                .order_by(ledger_entries.c.id)
            ).all()
        return [_entry(row) for row in rows]


def _check(account: str, amount_cents: int, kind: str, key: str) -> None:
    """What no entry may be, whatever the balance."""
    if kind not in KINDS:
        raise LedgerError(f"unknown ledger entry kind {kind!r}")
    if amount_cents == 0:
        raise LedgerError(f"{account}: an entry of 0.00 is not an entry")
    if abs(amount_cents) > MAX_MONEY_CENTS:
        raise LedgerError(
            f"{account}: {format_money(abs(amount_cents))} is more than one entry may hold "
            f"({format_money(MAX_MONEY_CENTS)})"
        )
    if not key or len(key) > 200:
        raise LedgerError(f"idempotency key {key!r} must be 1 to 200 characters")


def _locked_balance(connection: Connection, account: str) -> int:
    return int(
        connection.execute(
            select(wallets.c.balance_cents).where(wallets.c.account == account)
        ).scalar_one()
    )


def _key_taken(key: str, existing: Any) -> LedgerError:
    return LedgerError(
        f"key {key!r} was already used for a different entry "
        f"({existing.kind} of {format_money(existing.amount_cents)} on {existing.account})"
    )


def _entry(row: object, created: bool = True) -> Entry:
    return Entry(
        account=row.account,  # type: ignore[attr-defined]
        amount_cents=row.amount_cents,  # type: ignore[attr-defined]
        kind=row.kind,  # type: ignore[attr-defined]
        key=row.key,  # type: ignore[attr-defined]
        note=row.note,  # type: ignore[attr-defined]
        at=as_utc(row.at),  # type: ignore[attr-defined]
        balance_after_cents=row.balance_after_cents,  # type: ignore[attr-defined]
        created=created,
    )
