"""The elastic meter: exact per-second cost, whole-cent hourly charges without drift, and
`bill` on SQLite (tests/integration/test_billing.py crashes and races it on both databases)."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from glue.models import ElasticRules, Limits
from glue.state.db import open_engine
from glue.state.ledger import Ledger, LedgerError
from glue.state.schema import boosts
from scaler.billing import HOUR, Interval, Tariff, bill, cost, hourly_charges, ledger_key

DAY0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
RULES = ElasticRules.model_validate(
    {
        "cpu": {"step": "500MHz", "ceiling": "4GHz", "hourly_price": "0.07"},
        "memory": {"step": "512MiB", "ceiling": "8GiB", "hourly_price": "0.03"},
        "disk": {"step": "1GiB", "ceiling": "50GiB", "hourly_price": "0.01"},
    }
)
BASE = Limits(cpu_mhz=1000, memory_mib=1024, disk_mib=10240)


def at(seconds: float) -> dt.datetime:
    return DAY0 + dt.timedelta(seconds=seconds)


def test_cost_is_extra_steps_times_price_per_second() -> None:
    # Two cpu steps (1000 MHz over a 500 MHz step) at 7 cents per step per hour, for 90 minutes.
    intervals = [Interval("cpu", 1000, at(0), at(5400))]
    assert cost(intervals, RULES, at(0), at(7200)) == Fraction(21)
    assert cost(intervals, RULES, at(3600), at(7200)) == Fraction(7)


def test_an_interval_crossing_hours_is_split_by_the_second() -> None:
    # 100 MHz = 1/5 step at 7 c/h from 00:59:00 to 01:01:00: a minute either side.
    intervals = [Interval("cpu", 100, at(3540), at(3660))]
    assert cost(intervals, RULES, at(0), at(3600)) == Fraction(7, 5) / 60
    assert cost(intervals, RULES, at(3600), at(7200)) == Fraction(7, 5) / 60


def test_an_open_interval_runs_to_the_end_and_the_running_hour_is_not_charged() -> None:
    intervals = [Interval("cpu", 500, at(1800), None)]
    # Half an hour of hour 0, all of hour 1, and hour 2 is still running at 02:30.
    assert hourly_charges(intervals, RULES, at(9000)) == {at(0): 3, at(3600): 7}


def test_zero_extra_costs_nothing_and_needs_no_price() -> None:
    intervals = [Interval("cpu", 0, at(0), None), Interval("memory", -5, at(0), at(7200))]
    assert cost(intervals, ElasticRules(), at(0), at(7200)) == 0
    assert hourly_charges(intervals, ElasticRules(), at(7200)) == {}


def test_fractions_of_a_cent_carry_to_the_next_hour() -> None:
    # 1/3 step of 1 c/h... a third of a cent an hour: a cent every third hour, none lost.
    rules = ElasticRules.model_validate(
        {"cpu": {"step": 300, "ceiling": 900, "hourly_price": "0.01"}}
    )
    intervals = [Interval("cpu", 100, at(0), at(9 * 3600))]
    assert hourly_charges(intervals, rules, at(86400)) == {at(7200): 1, at(18000): 1, at(28800): 1}


def test_ledger_keys_are_the_account_and_utc_hour() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert (
        ledger_key("alice", dt.datetime(2026, 3, 1, 5, tzinfo=plus_two))
        == "elastic:alice:2026-03-01T03"
    )


_resources = st.sampled_from(["cpu", "memory", "disk"])


@st.composite
def _day_of_boosts(draw: st.DrawFn) -> list[Interval]:
    """A recorded day: boosts of random size starting and ending at any second."""
    intervals = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(st.integers(0, 86_399))
        length = draw(st.one_of(st.none(), st.integers(1, 86_400 * 2)))
        extra = draw(st.integers(0, 20_000))
        until = None if length is None else at(start + length)
        intervals.append(Interval(draw(_resources), extra, at(start), until))
    return intervals


@settings(max_examples=150, deadline=None)
@given(_day_of_boosts(), st.integers(0, 86_400 * 3))
def test_hourly_charges_add_up_to_the_integral_to_the_cent(
    intervals: list[Interval], later: int
) -> None:
    now = DAY0 + dt.timedelta(days=1) + HOUR * (later // 3600)
    charges = hourly_charges(intervals, RULES, now)
    assert sum(charges.values()) == math.floor(cost(intervals, RULES, DAY0, now))
    assert all(hour + HOUR <= now and hour.minute == 0 for hour in charges)
    assert all(due > 0 for due in charges.values())
    # Each hour is floor(cumulative cost at its end) - floor(cumulative cost at its start).
    hour = DAY0
    while hour + HOUR <= now:
        due = math.floor(cost(intervals, RULES, DAY0, hour + HOUR))
        due -= math.floor(cost(intervals, RULES, DAY0, hour))
        assert charges.get(hour, 0) == due
        hour += HOUR


@settings(max_examples=50, deadline=None)
@given(_day_of_boosts(), st.integers(1, 47))
def test_each_hour_is_the_same_whenever_it_is_computed(
    intervals: list[Interval], hours: int
) -> None:
    """A biller that runs late computes the same cents for an hour as one that ran on time,
    and as one that meters only the hours after those charged already."""
    early = hourly_charges(intervals, RULES, DAY0 + HOUR * hours)
    late = hourly_charges(intervals, RULES, DAY0 + dt.timedelta(days=3))
    assert early == {hour: late[hour] for hour in early}
    first = DAY0 + HOUR * (hours // 2)
    after = hourly_charges(intervals, RULES, DAY0 + dt.timedelta(days=3), first)
    assert after == {hour: cents for hour, cents in late.items() if hour >= first}


def _engine(tmp_path: Path) -> Engine:
    return open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")


def _boost(
    engine: Engine, account: str, value: int, since: dt.datetime, until: dt.datetime | None
) -> None:
    with engine.begin() as connection:
        connection.execute(
            boosts.insert().values(
                account=account, resource="cpu", value=value, since=since, until=until
            )
        )


def _credit(engine: Engine, account: str, cents: int) -> None:
    ledger = Ledger(engine)
    with ledger.transaction() as connection:
        ledger.post(connection, account, cents, "credit", f"credit:{account}:{cents}")


def test_bill_charges_each_completed_hour_once_from_the_value_above_base(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _credit(engine, "alice", 10_000)
    _boost(engine, "alice", 2000, at(0), None)  # base 1000 MHz: two steps above
    tariffs = {"alice": Tariff(BASE, RULES)}
    first = bill(engine, tariffs, at(3 * 3600 + 10))
    assert [(e.key, e.amount_cents) for e in first.charged] == [
        (ledger_key("alice", at(h * 3600)), -14) for h in range(3)
    ]
    assert bill(engine, tariffs, at(3 * 3600 + 20)).charged == []
    assert Ledger(engine).balance("alice") == 10_000 - 42


def test_an_empty_wallet_pays_what_it_has_and_goes_back_to_base(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _credit(engine, "bob", 20)
    _boost(engine, "bob", 2000, at(0), None)
    run = bill(engine, {"bob": Tariff(BASE, RULES)}, at(4 * 3600))
    assert [e.amount_cents for e in run.charged] == [-14, -6]
    assert run.to_base == {"bob": "wallet empty: paid 0.06 of 0.14 for 2026-03-01 01:00 UTC"}
    assert Ledger(engine).balance("bob") == 0
    again = bill(engine, {"bob": Tariff(BASE, RULES)}, at(4 * 3600))
    assert again.charged == [] and "paid 0.00 of 0.14" in again.to_base["bob"]
    assert Ledger(engine).balance("bob") == 0


def test_an_account_that_cannot_be_priced_does_not_stop_the_others(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _credit(engine, "carol", 1_000)
    _boost(engine, "ghost", 2000, at(0), None)
    _boost(engine, "carol", 1500, at(0), at(3600))
    run = bill(engine, {"carol": Tariff(BASE, RULES)}, at(7200))
    assert run.errors == {"ghost": "ghost: boosted but not in the catalog"}
    assert [e.amount_cents for e in run.charged] == [-7]


def test_charge_at_most_balance_refuses_a_key_of_another_kind(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _credit(engine, "dave", 100)
    ledger = Ledger(engine)
    with pytest.raises(LedgerError, match="already used"), ledger.transaction() as connection:
        ledger.charge_at_most_balance(connection, "dave", 5, "credit:dave:100")


def test_a_key_taken_by_another_entry_is_reported_and_the_others_are_billed(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _credit(engine, "erin", 1_000)
    _credit(engine, "fay", 1_000)
    ledger = Ledger(engine)
    with ledger.transaction() as connection:
        ledger.post(connection, "erin", 5, "refund", ledger_key("erin", at(0)))
    for account in ("erin", "fay"):
        _boost(engine, account, 1500, at(0), at(3600))
    tariffs = {name: Tariff(BASE, RULES) for name in ("erin", "fay")}
    run = bill(engine, tariffs, at(7200))
    assert "already used for a different entry" in run.errors["erin"]
    assert [(e.account, e.amount_cents) for e in run.charged] == [("fay", -7)]
