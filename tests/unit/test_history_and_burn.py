"""`bubble account history` and the wallet's burn rate against a real state DB (SQLite here;
tests/integration/test_history_and_burn_postgres.py reruns them on PostgreSQL via `db_url`).
Boosts, charges and the scaler's records are made by the real functions (apply_levels, bill)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from glue.catalog import save_account, save_servers
from glue.limits import effective_base
from glue.services.context import Context
from glue.services.root import init_root
from glue.services.wallets import credit
from glue.settings import Settings
from glue.state.boosts import apply_levels
from glue.state.schema import scaler_events
from scaler.billing import Tariff, bill, hourly_charges, read_intervals
from tests.support.cli import invoke
from tests.support.models import account, server

T0, HOUR = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC), dt.timedelta(hours=1)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite here; the PostgreSQL rerun gives a fresh database instead."""
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Context:
    """alice and bob on web1, the base plan (cpu: base 1000 MHz, step 500 at 0.02 an hour;
    memory: base 2048 MiB, step 512 at 0.01), both elastic, 10.00 in each wallet."""
    # Its own root (not the unit suite's `root` fixture): the PostgreSQL rerun has none.
    context = Context(root=init_root(tmp_path / "ops"), settings=Settings(database_url=db_url))
    catalog = context.catalog().with_server("web1", server())
    save_servers(catalog)
    for name in ("alice", "bob"):
        catalog = catalog.with_account(
            name, account("web1", elastic=True, domains=[f"{name}.example"])
        )
        save_account(catalog, name)
        credit(context, name, "10.00", key=f"seed:{name}")
    return context


def cli(ctx: Context, db_url: str, *args: str) -> tuple[int, str, str]:
    result = invoke(*args, root=ctx.root, env={"BUBBLE_DATABASE_URL": db_url})
    return result.exit_code, result.stdout, result.stderr


def record(ctx: Context, at: dt.datetime, name: str, kind: str, to: int, reason: str) -> None:
    """What the scaler loop records after a change took (or was deferred): a row of its own."""
    with ctx.engine.begin() as connection:
        connection.execute(insert(scaler_events).values(
            at=at, account=name, resource="cpu", kind=kind, from_value=1000 if kind != "lower"
            else 1500, to_value=to, reason=reason,
        ))  # fmt: skip


def tariffs(ctx: Context) -> dict[str, Tariff]:
    catalog = ctx.catalog()
    return {
        name: Tariff(
            effective_base(catalog.plans["base"], a, ctx.today), catalog.plans["base"].elastic
        )
        for name, a in catalog.accounts.items()
    }


def test_history_merges_changes_deferrals_and_charges_in_time_order(
    ctx: Context, db_url: str
) -> None:
    apply_levels(ctx.engine, [("alice", "cpu", 1500, "busy")], T0)
    record(ctx, T0, "alice", "raise", 1500, "cpu 1000->1500 MHz: busy")
    record(ctx, T0 + 20 * dt.timedelta(minutes=1), "alice", "deferred", 2000, "no room")
    record(ctx, T0, "bob", "deferred", 1500, "bob's own")  # never in alice's history
    lowered = T0 + 2 * HOUR + 30 * dt.timedelta(minutes=1)
    apply_levels(ctx.engine, [("alice", "cpu", None, "calm")], lowered)
    record(ctx, lowered, "alice", "lower", 1000, "cpu 1500->1000 MHz: calm")
    billed = T0 + 3 * HOUR + dt.timedelta(minutes=5)
    run = bill(ctx.engine, tariffs(ctx), billed)
    # One step (0.02 an hour) for 10:00-12:30: 2 + 2 + 1 cents, each hour once.
    assert [-e.amount_cents for e in run.charged] == [2, 2, 1]
    bill(ctx.engine, tariffs(ctx), billed + HOUR)  # a replay charges nothing more

    code, out, err = cli(ctx, db_url, "account", "history", "alice", "--json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    assert [(r["kind"], dt.datetime.fromisoformat(r["at"])) for r in rows] == [
        ("raise", T0),
        ("deferred", T0 + 20 * dt.timedelta(minutes=1)),
        ("lower", lowered),
        ("charge", billed),
        ("charge", billed),
        ("charge", billed),
    ]
    assert (rows[0]["resource"], rows[0]["from"], rows[0]["to"]) == ("cpu", 1000, 1500)
    assert rows[2]["reason"] == "cpu 1500->1000 MHz: calm"
    assert [(r["amount_cents"], r["amount"]) for r in rows[3:]] == [
        (2, "0.02"), (2, "0.02"), (1, "0.01")
    ]  # fmt: skip
    assert [r["key"] for r in rows[3:]] == [
        "elastic:alice:2026-11-30T10", "elastic:alice:2026-11-30T11", "elastic:alice:2026-11-30T12"
    ]  # fmt: skip
    code, out, _ = cli(ctx, db_url, "account", "history", "alice")
    assert code == 0 and "cpu 1000 -> 1500: cpu 1000->1500 MHz: busy" in out and "0.01" in out
    assert json.loads(cli(ctx, db_url, "account", "history", "bob", "--json")[1]) == [
        {"at": T0.isoformat(), "kind": "deferred", "resource": "cpu", "from": 1000,
         "to": 1500, "reason": "bob's own"}
    ]  # fmt: skip


def test_history_of_an_unknown_account_is_one_line_exit_2(ctx: Context, db_url: str) -> None:
    code, out, err = cli(ctx, db_url, "account", "history", "carol")
    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unknown account 'carol'" in lines[0], err


@pytest.mark.parametrize(
    ("cpu", "memory", "burn", "exact_per_2h", "hours", "days"),
    [
        # 2 cpu steps (0.04) + 1 memory step (0.01): 5 cents an hour; 10.00 lasts 200 h.
        (2000, 2560, 5, 10, 200.0, 8.33),
        # Half a step each: 1 + 0.5 = 1.5 cents an hour (2 shown), 1000 / 1.5 = 666.66 h.
        (1250, 2304, 2, 3, 666.66, 27.77),
    ],
)
def test_wallet_burn_is_billing_tariff_for_the_capacity_in_force(
    ctx: Context,
    db_url: str,
    cpu: int,
    memory: int,
    burn: int,
    exact_per_2h: int,
    hours: float,
    days: float,
) -> None:
    now = dt.datetime.now(dt.UTC)
    since = now - HOUR
    apply_levels(ctx.engine, [("alice", "cpu", cpu, "busy"), ("alice", "memory", memory, "busy")],
                 since)  # fmt: skip
    code, out, err = cli(ctx, db_url, "wallet", "show", "alice", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["balance"], data["burn_cents_per_hour"], data["burn_per_hour"]) == (
        "10.00",
        burn,
        f"0.0{burn}",
    )
    assert (data["lasts_hours"], data["lasts_days"]) == (hours, days)
    # The meter charges the same rate: two whole hours of this capacity cost exactly this.
    start = since.replace(minute=0, second=0, microsecond=0) + HOUR
    intervals = read_intervals(ctx.engine, tariffs(ctx))["alice"]
    moved = [dataclasses.replace(i, since=start, until=None) for i in intervals]
    charges = hourly_charges(moved, tariffs(ctx)["alice"].rules, start + 2 * HOUR)
    assert sum(charges.values()) == exact_per_2h
    code, out, _ = cli(ctx, db_url, "wallet", "show", "alice")
    assert code == 0 and f"lasts {days} days at the current burn" in out
    bob = json.loads(cli(ctx, db_url, "wallet", "show", "bob", "--json")[1])
    assert (bob["burn_cents_per_hour"], bob["lasts_hours"], bob["lasts_days"]) == (0, None, None)
    assert "nothing burns" in cli(ctx, db_url, "wallet", "show", "bob")[1]
