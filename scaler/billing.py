"""Elastic billing: capacity in force above base, metered per second at the plan's hourly
prices, charged from the wallet once per account per completed UTC hour.

The meter is pure and exact (Fraction, never float). Whole cents come from the cumulative
cost since a fixed origin (before the first boost): hour H is charged floor(cost up to its
end) - floor(cost up to its start), so the hourly charges of any stretch add up to the floor
of its integral and no fraction of a cent is lost or counted twice. The ledger key
`elastic:ACCOUNT:HOUR` makes each hour happen once however often `bill` runs, crashes or runs
twice at once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import islice

from sqlalchemy import Connection, Engine, func, select

from glue.models import RESOURCES, ElasticRules, Limits, Resource
from glue.state.ledger import Charge, Charged, Entry, Ledger, LedgerError, as_utc
from glue.state.schema import boosts, ledger_entries
from glue.units import format_money

HOUR = dt.timedelta(hours=1)
# Accounts charged per transaction: one batch of statements, short enough that other
# writers of these wallets (top-ups, upgrades) wait little.
CHUNK = 500
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Interval:
    """Extra capacity (above base, in the resource's unit) in force from `since` to `until`
    (None: still in force)."""

    resource: Resource
    extra: int
    since: dt.datetime
    until: dt.datetime | None


@dataclass(frozen=True)
class Tariff:
    """What an account's capacity is measured against: its base and its plan's elastic rules."""

    base: Limits
    rules: ElasticRules


@dataclass
class BillRun:
    charged: list[Entry] = field(default_factory=list)
    # Accounts whose wallet did not cover an hour: they must go back to base, with the reason.
    to_base: dict[str, str] = field(default_factory=dict)
    # Accounts that could not be billed (no tariff, no price for a boosted resource).
    errors: dict[str, str] = field(default_factory=dict)


class BillingError(ValueError):
    """A boost that cannot be priced; the message names the account and resource."""


def _seconds(delta: dt.timedelta) -> Fraction:
    return Fraction(delta // _MICROSECOND, 1_000_000)


def pro_rata(extra: int, step: int, hourly_price: int) -> Fraction:
    """The tariff: exact cents an hour for `extra` (above base, the resource's unit) in force
    at `hourly_price` per step, pro rata. The meter, the wallet's burn rate and the scaler's
    wallet cap all price with this alone."""
    return Fraction(max(0, extra), step) * hourly_price


def hourly_rate(resource: Resource, extra: int, rules: ElasticRules) -> Fraction:
    """`pro_rata` at the plan's price for `resource`."""
    if extra <= 0:
        return Fraction(0)
    rule = rules.get(resource)
    if rule is None:
        raise BillingError(f"{resource} is boosted but the plan has no elastic price")
    return pro_rata(extra, rule.step, rule.hourly_price)


def burn_per_hour(tariff: Tariff, in_force: Limits) -> Fraction:
    """Exact cents an hour that the limits `in_force` cost above the tariff's base."""
    return sum(
        (hourly_rate(r, in_force.get(r) - tariff.base.get(r), tariff.rules) for r in RESOURCES),
        Fraction(0),
    )


def _cents_per_second(interval: Interval, rules: ElasticRules) -> Fraction:
    return hourly_rate(interval.resource, interval.extra, rules) / 3600


def cost(
    intervals: Iterable[Interval], rules: ElasticRules, start: dt.datetime, end: dt.datetime
) -> Fraction:
    """Exact cents owed for the capacity in force between `start` and `end`."""
    total = Fraction(0)
    for interval in intervals:
        until = end if interval.until is None else min(interval.until, end)
        overlap = until - max(interval.since, start)
        if overlap > dt.timedelta(0):
            total += _cents_per_second(interval, rules) * _seconds(overlap)
    return total


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _cost_per_hour(
    intervals: Iterable[Interval], rules: ElasticRules, now: dt.datetime, first: dt.datetime
) -> dict[dt.datetime, Fraction]:
    """Exact cents per completed hour (ending at or before `now`) from the hour `first` on,
    with extra in force; each interval is visited once per hour it spans."""
    last = hour_of(now)  # the hour running now is not complete
    hours: dict[dt.datetime, Fraction] = {}
    for interval in intervals:
        hour = max(hour_of(interval.since), first)
        end = last if interval.until is None else min(last, interval.until)
        if interval.extra <= 0 or hour >= end:
            continue
        # `cost` of the interval in each hour, its rate priced once: a whole hour costs the
        # hourly rate exactly, a part of one its seconds at that rate.
        rate = hourly_rate(interval.resource, interval.extra, rules)
        while hour < end:
            start = max(interval.since, hour)
            stop = hour + HOUR if interval.until is None else min(interval.until, hour + HOUR)
            part = rate if stop - start == HOUR else rate * _seconds(stop - start) / 3600
            hours[hour] = hours.get(hour, Fraction(0)) + part
            hour += HOUR
    return hours


def hourly_charges(
    intervals: Iterable[Interval],
    rules: ElasticRules,
    now: dt.datetime,
    first: dt.datetime | None = None,
) -> dict[dt.datetime, int]:
    """Whole cents per completed hour (hours owing 0 are left out), drift-free; only the
    hours from `first` (an hour's start) on when given, each the same as in the whole list.

    Cumulative from the first boost: what the hours before `first` owed is their `cost`, in
    one sum, so an account boosted for months is not metered hour by hour again each run."""
    intervals = list(intervals)
    charges: dict[dt.datetime, int] = {}
    if not intervals:
        return charges
    origin = min(i.since for i in intervals)
    start = hour_of(origin) if first is None else max(hour_of(origin), first)
    owed = cost(intervals, rules, origin, start)  # nothing is owed between these hours
    for hour, exact in sorted(_cost_per_hour(intervals, rules, now, start).items()):
        due = math.floor(owed + exact) - math.floor(owed)
        owed += exact
        if due > 0:
            charges[hour] = due
    return charges


def ledger_key(account: str, hour: dt.datetime) -> str:
    return f"elastic:{account}:{hour.astimezone(dt.UTC):%Y-%m-%dT%H}"


def read_intervals(engine: Engine, tariffs: Mapping[str, Tariff]) -> dict[str, list[Interval]]:
    """The whole boost history, in one query, as intervals above each account's base (the
    thin adapter between the `boosts` table and the pure meter). Whole, since each hour's
    cents follow from the cost since the first boost."""
    out: dict[str, list[Interval]] = {}
    with engine.connect() as connection:
        rows = connection.execute(select(boosts).order_by(boosts.c.since, boosts.c.id)).all()
    for row in rows:
        tariff = tariffs.get(row.account)
        base = tariff.base.get(row.resource) if tariff else 0
        out.setdefault(row.account, []).append(
            Interval(
                row.resource,
                max(0, int(row.value) - base),
                as_utc(row.since),
                None if row.until is None else as_utc(row.until),
            )
        )
    return out


def _last_charged(engine: Engine) -> dict[str, dt.datetime]:
    """Each account's newest elastic hour charged, in one query. An account's hours are
    charged oldest first, so the hours before it are settled: only those after it are owed."""
    key = ledger_entries.c.key
    with engine.connect() as connection:
        rows = connection.execute(
            select(ledger_entries.c.account, func.max(key))
            .where(ledger_entries.c.kind == "charge", key.startswith("elastic:"))
            .group_by(ledger_entries.c.account)
        ).all()
    return {
        account: dt.datetime.strptime(newest.rsplit(":", 1)[1], "%Y-%m-%dT%H").replace(
            tzinfo=dt.UTC
        )
        for account, newest in rows
    }


def bill(engine: Engine, tariffs: Mapping[str, Tariff], now: dt.datetime) -> BillRun:
    """Charge every completed hour not charged yet, oldest first, in one batch per CHUNK
    accounts (`Ledger.charge_many`, a transaction each; one account's bad entry never stops
    the others).

    Every account with a boost is metered each run from the hour after its newest charged
    one, so an hour that waits (for funds, or after a failed entry) is charged by the next
    run. An hour the wallet does not fully cover takes what is there (never below zero) and
    the account is listed to go back to base; its later hours wait for funds (never
    skipped)."""
    if now.tzinfo is None:
        raise ValueError("bill: `now` must carry its time zone (UTC)")
    run = BillRun()
    charged = _last_charged(engine)
    owing: list[tuple[str, dict[dt.datetime, int]]] = []
    for account, intervals in sorted(read_intervals(engine, tariffs).items()):
        tariff = tariffs.get(account)
        if tariff is None:
            run.errors[account] = f"{account}: boosted but not in the catalog"
            continue
        newest = charged.get(account)
        try:
            owed = hourly_charges(
                intervals, tariff.rules, now, None if newest is None else newest + HOUR
            )
        except BillingError as exc:
            run.errors[account] = f"{account}: {exc}"
            continue
        if owed:
            owing.append((account, owed))
    ledger = Ledger(engine)
    # Accounts in name order: two billers at once on PostgreSQL lock wallets in one order.
    for start in range(0, len(owing), CHUNK):
        with ledger.transaction() as connection:
            _charge(ledger, connection, owing[start : start + CHUNK], now, run)
    return run


def _charge(
    ledger: Ledger,
    connection: Connection,
    owing: Sequence[tuple[str, Mapping[dt.datetime, int]]],
    now: dt.datetime,
    run: BillRun,
) -> None:
    """The accounts' unpaid hours, oldest first, in one batch; when the batch is refused,
    again one account at a time, so one account's bad entry never stops the others."""
    try:
        with connection.begin_nested():
            results = iter(ledger.charge_many(connection, _charges(owing, now)))
    except LedgerError:
        for account, owed in owing:
            try:
                with connection.begin_nested():
                    mine = ledger.charge_many(connection, _charges([(account, owed)], now))
            except LedgerError as exc:
                run.errors[account] = str(exc)
            else:
                _record(account, zip(owed, mine, strict=True), run)
        return
    for account, owed in owing:  # the results come in the order of the charges
        _record(account, zip(owed, islice(results, len(owed)), strict=True), run)


def _charges(
    owing: Sequence[tuple[str, Mapping[dt.datetime, int]]], now: dt.datetime
) -> list[Charge]:
    return [
        Charge(account, due, ledger_key(account, hour), f"elastic capacity {_hour(hour)}", now)
        for account, owed in owing
        for hour, due in owed.items()
    ]


def _hour(hour: dt.datetime) -> str:
    return f"{hour:%Y-%m-%d %H}:00 UTC"


def _record(account: str, results: Iterable[tuple[dt.datetime, Charged]], run: BillRun) -> None:
    """One account's charges, oldest first: those posted now, up to the first hour its wallet
    did not cover (it goes back to base; its later hours posted nothing and wait for funds)."""
    for hour, result in results:
        if result.entry is not None and result.entry.created:
            run.charged.append(result.entry)
        if result.short:
            run.to_base[account] = (
                f"wallet empty: paid {format_money(result.paid_cents)} of "
                f"{format_money(result.charge.due_cents)} for {_hour(hour)}"
            )
            return
