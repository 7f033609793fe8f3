"""Topping up a wallet. Customers pay the operator, not the platform, so payment is a
pluggable provider:

- "bank" (bank transfer): the customer asks for an amount and is given a reference to put on
  its transfer; an admin confirms it (the wallet is credited) or rejects it (`decide`).
- a payment provider's signed notification (`notified`): the provider's name selects its
  secret in `settings.payment_webhooks` (BUBBLE_PAYMENT_WEBHOOKS, JSON {name: secret}) and
  its reader in WEBHOOK_FORMATS (HMAC-SHA256 over the raw body unless another is plugged in).

Every credit is `wallets.credit` keyed `topup:<provider>:<reference>` in the same transaction
as the top-up's row: a repeated confirmation or notification credits once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from glue.errors import BubbleError
from glue.services import wallets
from glue.services.accounts import require_account
from glue.services.context import Context
from glue.state.ledger import Entry, as_utc, utcnow
from glue.state.schema import topups
from glue.units import MAX_MONEY_CENTS, UnitError, format_money, parse_money_cents

BANK = "bank"
STATES = ("requested", "confirmed", "rejected")
# No 0/O, 1/I/L: a reference is typed by hand into a bank's transfer form.
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class BadSignature(BubbleError):
    """A notification whose signature does not check out: nothing is credited."""


class UnknownProvider(BubbleError):
    pass


@dataclass(frozen=True)
class TopUp:
    id: int
    provider: str
    reference: str
    account: str
    amount_cents: int
    state: str
    requested_by: str
    decided_by: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "provider": self.provider, "account": self.account,
            "amount": format_money(self.amount_cents), "amount_cents": self.amount_cents,
            "state": self.state, "requested_by": self.requested_by,
            "decided_by": self.decided_by, "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }  # fmt: skip


@dataclass(frozen=True)
class Payment:
    """What a provider notified: its payment id, the account, integer cents."""

    payment_id: str
    account: str
    amount_cents: int


class WebhookFormat(Protocol):
    def read(self, body: bytes, headers: Mapping[str, str], secret: bytes) -> Payment:
        """The payment in a notification; BadSignature unless `secret` signed `body`."""
        ...


class _Notification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    account: str = Field(min_length=1, max_length=64)
    amount_cents: StrictInt = Field(gt=0, le=MAX_MONEY_CENTS)


class HmacJson:
    """`X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`; the body is JSON
    {"payment_id": str, "account": str, "amount_cents": int}."""

    header = "x-signature"

    def read(self, body: bytes, headers: Mapping[str, str], secret: bytes) -> Payment:
        given = headers.get(self.header, "").strip().removeprefix("sha256=")
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise BadSignature("the notification's signature does not match")
        try:
            found = _Notification.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise BubbleError(f"{field}: {first['msg']}") from None
        return Payment(found.payment_id, found.account, found.amount_cents)


# A provider with its own notification format plugs its reader in here under its name.
WEBHOOK_FORMATS: dict[str, WebhookFormat] = {}
DEFAULT_FORMAT: WebhookFormat = HmacJson()


def _row(row: Any) -> TopUp:
    return TopUp(
        id=row.id, provider=row.provider, reference=row.reference, account=row.account,
        amount_cents=int(row.amount_cents), state=row.state, requested_by=row.requested_by,
        decided_by=row.decided_by, created_at=as_utc(row.created_at),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
    )  # fmt: skip


def _find(connection: Connection, provider: str, reference: str) -> TopUp | None:
    row = connection.execute(
        select(topups)
        .where(topups.c.provider == provider, topups.c.reference == reference)
        .with_for_update()
    ).one_or_none()
    return None if row is None else _row(row)


def _credit(ctx: Context, connection: Connection, topup: TopUp, note: str) -> Entry:
    key = f"topup:{topup.provider}:{topup.reference}"
    return wallets.credit(ctx, topup.account, format_money(topup.amount_cents), note, key,
                          within=connection)  # fmt: skip


def request_transfer(ctx: Context, account: str, amount: str, who: str) -> TopUp:
    """A bank-transfer top-up the customer asked for, with the reference for its transfer."""
    require_account(ctx.catalog(), account)
    try:
        cents = parse_money_cents(amount)
    except UnitError as exc:
        raise BubbleError(f"amount: {exc}") from None
    if cents <= 0:
        raise BubbleError(f"amount: {amount!r} must be more than 0.00")
    reference = "BH-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))
    with ctx.engine.begin() as connection:
        connection.execute(insert(topups).values(
            provider=BANK, reference=reference, account=account, amount_cents=cents,
            state="requested", requested_by=who, created_at=utcnow(),
        ))  # fmt: skip
        found = _find(connection, BANK, reference)
    assert found is not None
    return found


def decide(ctx: Context, reference: str, confirm: bool, who: str) -> tuple[TopUp, Entry | None]:
    """An admin's decision on a bank transfer: confirmed credits the wallet (once, however
    often it is confirmed), rejected credits nothing; a decision is not reversed."""
    with ctx.ledger.transaction() as connection:
        topup = _find(connection, BANK, reference)
        if topup is None:
            raise BubbleError(f"reference: unknown bank-transfer top-up {reference!r}")
        wanted = "confirmed" if confirm else "rejected"
        if topup.state not in ("requested", wanted):
            raise BubbleError(f"top-up {reference} was already {topup.state}")
        entry = None
        if confirm:
            entry = _credit(ctx, connection, topup, f"bank transfer {reference} confirmed by {who}")
        if topup.state == "requested":
            connection.execute(
                update(topups).where(topups.c.id == topup.id)
                .values(state=wanted, decided_by=who, decided_at=utcnow())
            )  # fmt: skip
        decided = _find(connection, BANK, reference)
    assert decided is not None
    return decided, entry


def notified(ctx: Context, provider: str, body: bytes, headers: Mapping[str, str]) -> Entry:
    """Credit the payment a provider's signed notification reports, once per payment id."""
    secret = ctx.settings.payment_webhooks.get(provider)
    if provider == BANK or secret is None:
        raise UnknownProvider(f"provider: no payment provider {provider!r} is configured")
    reader = WEBHOOK_FORMATS.get(provider, DEFAULT_FORMAT)
    payment = reader.read(body, headers, secret.get_secret_value().encode())
    require_account(ctx.catalog(), payment.account)
    topup = TopUp(0, provider, payment.payment_id, payment.account, payment.amount_cents,
                  "confirmed", provider, provider, utcnow(), utcnow())  # fmt: skip
    with ctx.ledger.transaction() as connection:
        # The credit first: it locks the wallet (racing repeats queue there) and refuses the
        # payment id seen before for another account or amount, by name.
        entry = _credit(ctx, connection, topup, f"{provider} payment {payment.payment_id}")
        dialect = connection.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(topups)
        connection.execute(ins.values(
            provider=provider, reference=topup.reference, account=topup.account,
            amount_cents=topup.amount_cents, state=topup.state, requested_by=provider,
            decided_by=provider, created_at=topup.created_at, decided_at=topup.decided_at,
        ).on_conflict_do_nothing(index_elements=["provider", "reference"]))  # fmt: skip
        return entry


def list_topups(ctx: Context, account: str | None = None, state: str | None = None) -> list[TopUp]:
    """Newest first."""
    query = select(topups).order_by(topups.c.id.desc())
    if account is not None:
        query = query.where(topups.c.account == account)
    if state is not None:
        if state not in STATES:
            raise BubbleError(f"state: {state!r} is not one of {', '.join(STATES)}")
        query = query.where(topups.c.state == state)
    with ctx.engine.connect() as connection:
        return [_row(row) for row in connection.execute(query.limit(500)).all()]
