"""Which requests are the same upgrade purchase (the key), and what the catalog holds after
one (tests/integration/test_upgrade_purchase.py: concurrency and crashes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.catalog import account_path, load_catalog
from glue.errors import BubbleError
from glue.limits import effective_base
from glue.services.accounts import buy_upgrade, set_elastic
from glue.services.context import Context
from glue.services.wallets import credit
from tests.support.cli import CliResult

DAY = dt.date(2026, 12, 2)


@pytest.fixture
def ctx(root: Path, bubble: Callable[..., CliResult], two_servers: None) -> Context:
    assert bubble("account", "create", "alice", "--domain", "alice.example")[0] == 0
    context = Context(root=root, today=DAY)
    credit(context, "alice", "500.00", key="start")
    return context


def upgrade_charges(ctx: Context) -> list[int]:
    return [e.amount_cents for e in ctx.ledger.entries("alice") if e.kind == "upgrade"]


def catalog_keys(ctx: Context) -> list[str]:
    return [u.key for u in load_catalog(ctx.root).accounts["alice"].upgrades]


def test_the_same_request_the_same_day_is_one_purchase(ctx: Context) -> None:
    first = buy_upgrade(ctx, "alice", {"cpu": "+1GHz", "memory": "+1GiB"})
    assert first.created and first.fee_cents == 8_400 and first.balance_cents == 41_600
    assert first.key == "upgrade:alice:2026-12-02:cpu+1000,memory+1024"
    again = buy_upgrade(ctx, "alice", {"memory": "1024MiB", "cpu": "+1000MHz"})  # same, written
    assert not again.created and again.key == first.key and again.balance_cents == 41_600
    assert upgrade_charges(ctx) == [-8_400]
    assert catalog_keys(ctx) == [f"{first.key}#0", f"{first.key}#1"]


def test_the_same_request_another_day_is_another_purchase(ctx: Context) -> None:
    buy_upgrade(ctx, "alice", {"cpu": "+1GHz"})
    later = Context(root=ctx.root, today=DAY + dt.timedelta(days=1))
    second = buy_upgrade(later, "alice", {"cpu": "+1GHz"})
    assert second.created and second.expires == dt.date(2027, 12, 3)
    assert upgrade_charges(ctx) == [-6_000, -6_000]
    catalog = load_catalog(ctx.root)
    alice = catalog.accounts["alice"]
    assert effective_base(catalog.plans["base"], alice, DAY + dt.timedelta(days=1)).cpu_mhz == 3000


def test_a_key_reused_for_another_upgrade_is_refused(ctx: Context) -> None:
    buy_upgrade(ctx, "alice", {"memory": "+1GiB"}, key="order-7")  # 24.00
    with pytest.raises(BubbleError, match=r"key 'order-7' was already used for another upgrade"):
        buy_upgrade(ctx, "alice", {"disk": "+20GiB"}, key="order-7")  # also 24.00
    with pytest.raises(BubbleError, match=r"key 'order-7' was already used for a different"):
        buy_upgrade(ctx, "alice", {"cpu": "+1GHz"}, key="order-7")  # 60.00
    assert upgrade_charges(ctx) == [-2_400]
    assert catalog_keys(ctx) == ["order-7#0"]


def test_an_upgrade_written_by_hand_is_honoured_and_never_billed(ctx: Context) -> None:
    path = account_path(ctx.root, "alice")
    path.write_text(
        path.read_text()
        + "upgrades:\n  - resource: disk\n    amount: 10GiB\n    expires: 2027-06-01\n"
        "    key: goodwill-1\n"
    )
    buy_upgrade(ctx, "alice", {"cpu": "+1GHz"})
    assert upgrade_charges(ctx) == [-6_000]
    catalog = load_catalog(ctx.root)
    base = effective_base(catalog.plans["base"], catalog.accounts["alice"], DAY)
    assert (base.cpu_mhz, base.disk_mib) == (2000, 30720 + 10240)
    assert catalog_keys(ctx)[0] == "goodwill-1"


def test_an_expired_paid_upgrade_pruned_from_the_catalog_stays_out(ctx: Context) -> None:
    bought = buy_upgrade(ctx, "alice", {"cpu": "+1GHz"})
    path = account_path(ctx.root, "alice")
    text = path.read_text()
    path.write_text(text[: text.index("upgrades:")] + text[text.index("created:") :])
    next_year = Context(root=ctx.root, today=bought.expires)
    buy_upgrade(next_year, "alice", {"memory": "+1GiB"})
    assert catalog_keys(ctx) == ["upgrade:alice:2027-12-02:memory+1024#0"]


def test_an_upgrade_keeps_the_account_s_daily_cap_to_the_cent(ctx: Context) -> None:
    """A purchase rewrites the account: every other field stays as it was (the daily cap in
    cents was once read back as whole units, 100 times the customer's cap)."""
    set_elastic(ctx, "alice", True, 3_07)
    before = load_catalog(ctx.root).accounts["alice"]
    buy_upgrade(ctx, "alice", {"disk": "+10GiB"})
    after = load_catalog(ctx.root).accounts["alice"]
    assert after.max_daily == 3_07 and after.elastic is True
    assert after.model_dump(exclude={"upgrades"}) == before.model_dump(exclude={"upgrades"})
