"""The wallet ledger on SQLite (tests/integration/test_ledger_postgres.py reruns these on a
real PostgreSQL by overriding the `db_url` fixture)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import multiprocessing
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from glue.catalog import save_account, save_servers
from glue.services import topups
from glue.services.context import Context
from glue.services.root import init_root
from glue.settings import Settings
from glue.state.db import open_engine
from glue.state.ledger import Charge, InsufficientFunds, Ledger, LedgerError
from tests.support.models import account, server


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def ledger(db_url: str) -> Ledger:
    return Ledger(open_engine(db_url))


def post(ledger: Ledger, account: str, cents: int, kind: str, key: str) -> int:
    with ledger.transaction() as connection:
        return ledger.post(connection, account, cents, kind, key).balance_after_cents


def test_balance_is_the_sum_of_entries(ledger: Ledger) -> None:
    post(ledger, "alice", 10_000, "credit", "c1")
    post(ledger, "alice", -1_234, "charge", "h1")
    post(ledger, "bob", 500, "credit", "c2")
    assert ledger.balance("alice") == 8_766 == ledger.sum_of_entries("alice")
    assert [e.balance_after_cents for e in ledger.entries("alice")] == [10_000, 8_766]
    assert ledger.balance("nobody") == 0


def test_a_repeated_key_is_recorded_once(ledger: Ledger) -> None:
    post(ledger, "alice", 1_000, "credit", "same")
    with ledger.transaction() as connection:
        again = ledger.post(connection, "alice", 1_000, "credit", "same")
    assert not again.created
    assert ledger.balance("alice") == 1_000
    assert len(ledger.entries("alice")) == 1


def test_a_key_reused_for_something_else_is_refused(ledger: Ledger) -> None:
    post(ledger, "alice", 1_000, "credit", "k")
    with pytest.raises(LedgerError, match="already used for a different entry"):
        post(ledger, "alice", 2_000, "credit", "k")


def test_a_debit_without_cover_is_refused_and_nothing_written(ledger: Ledger) -> None:
    post(ledger, "alice", 500, "credit", "c")
    with pytest.raises(InsufficientFunds, match=r"alice: balance 5\.00 does not cover 5\.01"):
        post(ledger, "alice", -501, "upgrade", "u")
    assert ledger.balance("alice") == 500
    assert [e.key for e in ledger.entries("alice")] == ["c"]


def test_rollback_of_the_callers_transaction_removes_the_entry(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction() as connection:
        ledger.post(connection, "alice", 700, "credit", "c")
        raise RuntimeError("catalog write failed")
    assert ledger.balance("alice") == 0 and ledger.entries("alice") == []


def _worker(url: str, worker: int, rounds: int) -> None:
    ledger = Ledger(open_engine(url))
    for i in range(rounds):
        post(ledger, "alice", 100, "credit", f"w{worker}-{i}")
        post(ledger, "alice", 100, "credit", f"shared-{i}")  # every worker posts these: once each
        with contextlib.suppress(InsufficientFunds):  # some debits must be refused
            post(ledger, "alice", -250, "charge", f"d{worker}-{i}")


def test_concurrent_writers_never_lose_or_double_an_entry(ledger: Ledger, db_url: str) -> None:
    workers, rounds = 4, 25
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_worker, args=(db_url, w, rounds)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    entries = ledger.entries("alice")
    credits = [e for e in entries if e.kind == "credit"]
    assert len(credits) == workers * rounds + rounds
    assert ledger.balance("alice") == ledger.sum_of_entries("alice") >= 0
    # The running balance is consistent entry by entry: no two writers read the same balance.
    running = 0
    for entry in entries:
        running += entry.amount_cents
        assert entry.balance_after_cents == running >= 0


def test_a_key_belongs_to_one_account(ledger: Ledger) -> None:
    post(ledger, "alice", 500, "credit", "k")
    with pytest.raises(LedgerError, match=r"key 'k' was already used .*credit of 5\.00 on alice"):
        post(ledger, "bob", 500, "credit", "k")
    assert ledger.balance("bob") == 0 and ledger.entries("bob") == []


def test_a_key_taken_meanwhile_by_another_account_is_refused(ledger: Ledger) -> None:
    """bob's writer looks the key up while alice's entry under it is not committed yet (on
    PostgreSQL it then trips on the unique index; on SQLite it waits for the write lock)."""
    errors: list[Exception] = []

    def bob() -> None:
        try:
            post(ledger, "bob", 500, "credit", "k")
        except LedgerError as exc:
            errors.append(exc)

    other = threading.Thread(target=bob)
    with ledger.transaction() as connection:
        ledger.post(connection, "alice", 500, "credit", "k")
        other.start()
        other.join(1)  # bob is now waiting for alice's transaction
    other.join(60)
    assert not other.is_alive()
    assert len(errors) == 1 and "key 'k' was already used" in str(errors[0])
    assert ledger.balance("alice") == 500 and ledger.balance("bob") == 0


def test_amounts_and_balances_are_bounded(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LedgerError, match=r"10000000000\.01 is more than one entry may hold"):
        post(ledger, "alice", 10**12 + 1, "credit", "too-much")
    post(ledger, "alice", 10**12, "credit", "most")  # the bound itself is fine
    monkeypatch.setattr("glue.state.ledger.MAX_BALANCE_CENTS", 10**12 + 50)
    with pytest.raises(LedgerError, match=r"alice: a balance above .* is refused"):
        post(ledger, "alice", 51, "credit", "over")
    assert ledger.balance("alice") == 10**12 == ledger.sum_of_entries("alice")


def test_top_ups_confirmed_or_notified_at_once_credit_once(db_url: str, tmp_path: Path) -> None:
    """Bank-transfer confirmations and a provider's repeated notification racing each other
    (glue.services.topups: the top-up's row and its credit in one transaction)."""
    settings = Settings(database_url=db_url, payment_webhooks={"acme": "s3cret"})
    ctx = Context(root=init_root(tmp_path / "ops"), settings=settings)
    catalog = ctx.catalog().with_server("web1", server())
    catalog = catalog.with_account("alice", account("web1", domains=["alice.example"]))
    save_servers(catalog)
    save_account(catalog, "alice")
    asked = topups.request_transfer(ctx, "alice", "12.34", "alice")
    body = json.dumps({"payment_id": "p1", "account": "alice", "amount_cents": 4321}).encode()
    signed = {"x-signature": hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()}
    calls = [lambda: topups.decide(ctx, asked.reference, True, "root")] * 4
    calls += [lambda: topups.notified(ctx, "acme", body, signed)] * 4
    ctx.engine  # noqa: B018 - made once, before the threads share it
    with ThreadPoolExecutor(8) as pool:
        for done in [pool.submit(call) for call in calls]:
            done.result()
    assert ctx.ledger.balance("alice") == 12_34 + 43_21 == ctx.ledger.sum_of_entries("alice")
    assert {t.state for t in topups.list_topups(ctx, account="alice")} == {"confirmed"}


def test_a_batch_of_charges_replays_caps_and_charges_to_the_cent(ledger: Ledger) -> None:
    post(ledger, "alice", 1_000, "credit", "c-alice")
    post(ledger, "bob", 50, "credit", "c-bob")  # covers a part of its first hour
    post(ledger, "carol", 10_000, "credit", "c-carol")
    with ledger.transaction() as connection:
        ledger.charge_at_most_balance(connection, "alice", 300, "e:alice:0")
    batch = [
        Charge("alice", 300, "e:alice:0"),  # charged before: a replay
        Charge("alice", 250, "e:alice:1"),
        Charge("alice", 250, "e:alice:1"),  # twice in one batch: one entry
        Charge("bob", 80, "e:bob:1"),
        Charge("bob", 80, "e:bob:2"),
        Charge("carol", 1_234, "e:carol:1"),
        Charge("carol", 1, "e:carol:2"),
        Charge("dave", 5, "e:dave:1"),  # no wallet at all
    ]
    with ledger.transaction() as connection:
        results = ledger.charge_many(connection, batch)
    assert [(r.paid_cents, r.entry is not None and r.entry.created, r.short) for r in results] == [
        (300, False, False),
        (250, True, False),
        (250, False, False),
        (50, True, True),  # the whole balance, and it says so
        (0, False, True),  # nothing written
        (1_234, True, False),
        (1, True, False),
        (0, False, True),
    ]
    expected = {"alice": 450, "bob": 0, "carol": 8_765, "dave": 0}
    for name, cents in expected.items():
        assert ledger.balance(name) == cents == ledger.sum_of_entries(name)
        assert all(e.balance_after_cents >= 0 for e in ledger.entries(name))
    assert [e.balance_after_cents for e in ledger.entries("carol")] == [10_000, 8_766, 8_765]
    with ledger.transaction() as connection:  # the whole batch again posts nothing
        again = ledger.charge_many(connection, batch)
    assert not any(r.entry is not None and r.entry.created for r in again)
    assert {name: ledger.balance(name) for name in expected} == expected


def test_concurrent_batches_over_the_same_wallets_charge_each_key_once(ledger: Ledger) -> None:
    """Batches naming the wallets in different orders, at once: they queue on the wallet
    locks (taken in account order, never deadlocking) and each key is charged once."""
    names = [f"acct{n:02d}" for n in range(40)]
    for name in names:
        post(ledger, name, 1_000, "credit", f"c-{name}")
    start = threading.Barrier(4)

    def batch(seed: int) -> int:
        order = random.Random(seed).sample(names, len(names))
        charges = [Charge(n, 10 * h + 3, f"e:{n}:{h}") for n in order for h in range(3)]
        start.wait()
        with ledger.transaction() as connection:
            results = ledger.charge_many(connection, charges)
        return sum(r.entry is not None and r.entry.created for r in results)

    with ThreadPoolExecutor(4) as pool:
        posted = list(pool.map(batch, range(4)))
    assert sum(posted) == len(names) * 3
    for name in names:
        assert ledger.balance(name) == 1_000 - 3 - 13 - 23 == ledger.sum_of_entries(name)
