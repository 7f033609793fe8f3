"""The wallet ledger: every credit and charge is an entry with a unique key; an account's
balance is the sum of its entries, kept as a running balance on its wallet row.

Each post locks the wallet row for its transaction (SELECT ... FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite), so concurrent writers queue instead of losing an entry, and a
debit that the balance does not cover is refused with nothing written (elastic charges use
`charge_many`, which takes what is there instead, for many accounts in a few statements;
`charge_at_most_balance` is its one-charge case). A key belongs to one
entry on one account: reusing it for anything else is refused by name. No entry carries
more than MAX_MONEY_CENTS and no balance exceeds MAX_BALANCE_CENTS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
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


@dataclass(frozen=True)
class Charge:
    """An elastic charge: `due_cents` or what the wallet holds, whichever is less."""

    account: str
    due_cents: int
    key: str
    note: str = ""
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Charged:
    """What became of a Charge: `entry` is the one posted now, or the one already posted
    under its key (not `created`: the balance decided it then), or None when the wallet
    was empty (nothing written)."""

    charge: Charge
    entry: Entry | None

    @property
    def paid_cents(self) -> int:
        return 0 if self.entry is None else -self.entry.amount_cents

    @property
    def short(self) -> bool:
        """The wallet did not cover the charge now: it paid a part, or nothing."""
        return self.entry is None or (
            self.entry.created and self.paid_cents < self.charge.due_cents
        )


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
        balance = self._lock_wallets(connection, [account])[account]
        existing = _posted(connection, [key]).get(key)
        if existing is not None:
            if (existing.account, existing.amount_cents, existing.kind) != (
                account,
                amount_cents,
                kind,
            ):
                raise _key_taken(key, existing)
            return _entry(existing, created=False)
        entry = Entry(
            account, amount_cents, kind, key, note, at or utcnow(), balance + amount_cents
        )
        if amount_cents < 0 and entry.balance_after_cents < 0:
            raise InsufficientFunds(
                f"{account}: balance {format_money(balance)} does not cover "
                f"{format_money(-amount_cents)}"
            )
        if entry.balance_after_cents > MAX_BALANCE_CENTS:
            raise LedgerError(
                f"{account}: a balance above {format_money(MAX_BALANCE_CENTS)} is refused"
            )
        return self._insert(connection, [entry])[0]

    def _insert(self, connection: Connection, entries: Sequence[Entry]) -> list[Entry]:
        """Write checked entries, each with its balance after it, in order (the wallets are
        locked and the keys free): one INSERT and one UPDATE for them all."""
        if not entries:
            return []
        fields = ("account", "amount_cents", "kind", "key", "note", "at", "balance_after_cents")
        try:
            connection.execute(
                insert(ledger_entries), [{f: getattr(e, f) for f in fields} for e in entries]
            )
        except IntegrityError as exc:
            # Only on PostgreSQL: another account's wallet lock does not stop a writer of the
            # same key, whose entry committed between our look-up and this insert.
            keys = ", ".join(repr(e.key) for e in entries[:3]) + (", ..." if entries[3:] else "")
            which = "key" if len(entries) == 1 else "one of the keys"
            raise LedgerError(f"{which} {keys} was already used for a different entry") from exc
        final = {e.account: e.balance_after_cents for e in entries}  # each wallet's last
        connection.execute(
            update(wallets)
            .where(wallets.c.account == bindparam("wallet"))
            .values(balance_cents=bindparam("cents")),
            [{"wallet": account, "cents": cents} for account, cents in final.items()],
        )
        return [replace(e, at=as_utc(e.at)) for e in entries]

    def charge_at_most_balance(
        self,
        connection: Connection,
        account: str,
        due_cents: int,
        key: str,
        note: str = "",
        at: dt.datetime | None = None,
    ) -> Entry | None:
        """Charge `due_cents`, or the whole balance when it covers less, never below zero:
        `charge_many` of one charge."""
        return self.charge_many(connection, [Charge(account, due_cents, key, note, at)])[0].entry

    def charge_many(self, connection: Connection, charges: Sequence[Charge]) -> list[Charged]:
        """Each charge, in order, for its due or the whole balance left when that covers
        less, never below zero; one result per charge, in the same order.

        One statement each locks the wallets concerned (in account order, so two batches at
        once queue instead of deadlocking), reads the keys already posted, inserts the new
        entries and moves the balances. All or nothing: a charge that cannot be (not a
        charge, its key used for another entry) raises LedgerError naming it, and nothing is
        written; the caller's savepoint isolates it."""
        for charge in charges:
            if charge.due_cents <= 0:
                raise LedgerError(
                    f"{charge.account}: a charge of {format_money(charge.due_cents)} "
                    "is not a charge"
                )
        balances = self._lock_wallets(connection, sorted({c.account for c in charges}))
        posted: dict[str, Any] = _posted(connection, [c.key for c in charges])
        now = utcnow()
        new: list[Entry] = []
        out: list[Charged] = []
        for charge in charges:
            existing = posted.get(charge.key)
            if existing is not None:
                if (existing.account, existing.kind) != (charge.account, "charge"):
                    raise _key_taken(charge.key, existing)
                out.append(Charged(charge, _entry(existing, created=False)))
                continue
            amount = min(charge.due_cents, balances[charge.account])
            if amount <= 0:  # an empty wallet: nothing written (0.00 is not an entry)
                out.append(Charged(charge, None))
                continue
            _check(charge.account, -amount, "charge", charge.key)
            balances[charge.account] -= amount
            entry = Entry(
                charge.account,
                -amount,
                "charge",
                charge.key,
                charge.note,
                charge.at or now,
                balances[charge.account],
            )
            posted[charge.key] = entry  # the same key again in this batch is this entry
            new.append(entry)
            out.append(Charged(charge, entry))
        written = iter(self._insert(connection, new))
        return [
            replace(c, entry=next(written)) if c.entry is not None and c.entry.created else c
            for c in out
        ]

    def _lock_wallets(self, connection: Connection, accounts: Sequence[str]) -> dict[str, int]:
        """Lock the accounts' wallets (made at 0.00 when missing) in account order, and read
        their balances; on SQLite the transaction already holds the write lock (BEGIN
        IMMEDIATE)."""
        dialect = connection.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(wallets)
        connection.execute(
            ins.on_conflict_do_nothing(index_elements=["account"]),
            [{"account": account, "balance_cents": 0} for account in sorted(accounts)],
        )
        query = (
            select(wallets.c.account, wallets.c.balance_cents)
            .where(wallets.c.account.in_(accounts))
            .order_by(wallets.c.account)
        )
        if dialect == "postgresql":
            query = query.with_for_update()
        return {row.account: int(row.balance_cents) for row in connection.execute(query)}

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


def _posted(connection: Connection, keys: Sequence[str]) -> dict[str, Any]:
    """The entries already posted under `keys`, by key, in one query."""
    rows = connection.execute(select(ledger_entries).where(ledger_entries.c.key.in_(set(keys))))
    return {row.key: row for row in rows}


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
