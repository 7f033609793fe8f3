"""Elastic billing against crashes and races, on SQLite and on a real PostgreSQL: a biller
SIGKILLed at random points of a run and restarted charges each hour exactly once, two billers
at once charge it once, and an empty wallet never goes below zero.

Billers are forked from this process (already importing glue takes ~3 s per fresh
interpreter on a loaded machine, which would allow a handful of kill points, not a hundred);
each is a process of its own with its own engine, killed with os.kill(pid, SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import select
import signal
import time
from collections import deque
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from glue.models import ElasticRules, Limits
from glue.state.db import open_engine
from glue.state.ledger import Ledger
from glue.state.schema import boosts
from scaler.billing import HOUR, Interval, Tariff, bill, hourly_charges, ledger_key
from tests.integration.test_ledger_postgres import fresh_database, running_postgres

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
NOW = START + dt.timedelta(days=2, minutes=7)  # 48 completed hours, the 49th running
RULES = ElasticRules.model_validate(
    {
        "cpu": {"step": "500MHz", "ceiling": "8GHz", "hourly_price": "0.07"},
        "memory": {"step": "512MiB", "ceiling": "8GiB", "hourly_price": "0.03"},
    }
)
BASE = Limits(cpu_mhz=1000, memory_mib=1024, disk_mib=10240)
RICH = [f"rich{n}" for n in range(6)]
POOR = "poor"
POOR_CREDIT = 600  # covers a part of its hours: the rest must wait, never go below zero
KILL_POINTS = 100
# A run that ends before its kill point is a tick, not a kill: tried again, not counted.
MAX_ATTEMPTS = 3 * KILL_POINTS
# The kill test's clock moves an hour a run, so that every run has hours of its own to charge.
KILL_END = START + dt.timedelta(hours=MAX_ATTEMPTS + 1, minutes=7)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('billing') / 'state.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


def _recorded_days(
    seed: int, end: dt.datetime
) -> dict[str, list[tuple[str, int, dt.datetime, dt.datetime | None]]]:
    """Boosts per account from START to `end` (value in force, from, until), changing at any
    second."""
    rng = random.Random(seed)
    days: dict[str, list[tuple[str, int, dt.datetime, dt.datetime | None]]] = {}
    for account in [*RICH, POOR]:
        rows = []
        for resource, base, step in (("cpu", 1000, 500), ("memory", 1024, 512)):
            moment = START + dt.timedelta(seconds=rng.randrange(3600))
            while moment < end:
                length = dt.timedelta(seconds=rng.randrange(60, 6 * 3600))
                until = moment + length
                value = base + step * rng.randrange(0, 6) + rng.randrange(0, step)
                rows.append((resource, value, moment, None if until >= end else until))
                moment = until + dt.timedelta(seconds=rng.randrange(0, 1800))
        days[account] = rows
    return days


def _seed(engine: Engine, seed: int, end: dt.datetime = NOW) -> dict[str, dict[dt.datetime, int]]:
    """Record the boosts and the wallets; returns what each account owes per hour at `end`."""
    ledger = Ledger(engine)
    owed: dict[str, dict[dt.datetime, int]] = {}
    for account, rows in _recorded_days(seed, end).items():
        with engine.begin() as connection:
            for resource, value, since, until in rows:
                connection.execute(
                    boosts.insert().values(
                        account=account, resource=resource, value=value, since=since, until=until
                    )
                )
        credit = POOR_CREDIT if account == POOR else 10_000_000
        with ledger.transaction() as connection:
            ledger.post(connection, account, credit, "credit", f"credit:{account}")
        intervals = [
            Interval(resource, value - BASE.get(resource), since, until)
            for resource, value, since, until in rows
        ]
        owed[account] = hourly_charges(intervals, RULES, end)
    assert sum(owed[POOR].values()) > POOR_CREDIT, "the poor account must run out"
    return owed


TARIFFS = {account: Tariff(BASE, RULES) for account in [*RICH, POOR]}


def _fork_biller(db_url: str, now: dt.datetime = NOW) -> int:
    """A biller process of its own (own engine, own connections); exit 0 when its run ends."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            bill(open_engine(db_url), TARIFFS, now)
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int | None:
    """The biller's exit code, or None when it died of a signal."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None


def _assert_each_hour_charged_once(engine: Engine, owed: dict[str, dict[dt.datetime, int]]) -> None:
    ledger = Ledger(engine)
    for account in RICH:
        charges = {e.key: -e.amount_cents for e in ledger.entries(account) if e.kind == "charge"}
        assert charges == {ledger_key(account, hour): due for hour, due in owed[account].items()}
        assert ledger.balance(account) == ledger.sum_of_entries(account)
        assert ledger.balance(account) == 10_000_000 - sum(owed[account].values())
    _assert_poor_paid_in_order(ledger, owed[POOR])


def _assert_poor_paid_in_order(ledger: Ledger, owed: dict[dt.datetime, int]) -> None:
    """The empty wallet paid its hours oldest first, the last one in part, and sits at 0."""
    entries = ledger.entries(POOR)
    assert all(e.balance_after_cents >= 0 for e in entries)
    assert ledger.balance(POOR) == 0 == ledger.sum_of_entries(POOR)
    paid = [(e.key, -e.amount_cents) for e in entries if e.kind == "charge"]
    due = [(ledger_key(POOR, hour), cents) for hour, cents in owed.items()][: len(paid)]
    assert [key for key, _ in paid] == [key for key, _ in due]
    assert [cents for _, cents in paid[:-1]] == [cents for _, cents in due[:-1]]
    assert 0 < paid[-1][1] <= due[-1][1]


@pytest.fixture(autouse=True)
def chunks_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run commits two accounts at a time (forked billers inherit it), so kills and a
    second biller also land between a run's transactions."""
    monkeypatch.setattr("scaler.billing.CHUNK", 2)


def _run(db_url: str, now: dt.datetime, kill_at: float = math.inf) -> float | None:
    """A biller billing at `now`, SIGKILLed `kill_at` seconds after its fork: None when the
    kill landed inside its run, else how long the run took (it ended first)."""
    started = time.monotonic()
    pid = _fork_biller(db_url, now)
    pidfd = os.pidfd_open(pid)  # readable when the biller ends: no sleep past its end
    try:
        wait = None if math.isinf(kill_at) else max(0.0, kill_at - (time.monotonic() - started))
        ended = select.select([pidfd], [], [], wait)[0]
    finally:
        os.close(pidfd)
    took = time.monotonic() - started
    if not ended:
        os.kill(pid, signal.SIGKILL)
    code = _exit_code(pid)
    if code is None:
        return None
    assert code == 0, f"a biller failed (exit {code})"
    return took


def test_a_biller_killed_at_random_points_charges_each_hour_once(db_url: str) -> None:
    """100 SIGKILLs, each inside a run that has an hour of its own to charge and each
    followed by a restart: every hour is charged once, to the cent."""
    engine = open_engine(db_url)
    owed = _seed(engine, seed=10, end=KILL_END)
    rng = random.Random(db_url)
    whole: deque[float] = deque(maxlen=3)  # how long the last whole runs took here
    interrupted = attempts = 0
    started = time.monotonic()
    while interrupted < KILL_POINTS and attempts < MAX_ATTEMPTS:
        attempts += 1
        now = START + dt.timedelta(hours=attempts, minutes=7)  # an hour of its own to charge
        # A point within as long as the last whole runs took, measured as the load is now
        # (the first run only measures): a run that ends before it is not counted.
        kill_at = rng.uniform(0, max(whole)) if whole else math.inf
        took = _run(db_url, now, kill_at)
        if took is None:
            interrupted += 1
            took = _run(db_url, now)  # the restart, which finishes what the kill left
        assert took is not None
        whole.append(took)
    assert interrupted == KILL_POINTS, f"only {interrupted} of {attempts} kills landed in a run"
    assert _exit_code(_fork_biller(db_url, KILL_END)) == 0  # the hours after the last kill
    _assert_each_hour_charged_once(engine, owed)
    assert time.monotonic() - started < 300


def test_two_billers_at_once_charge_each_hour_once(db_url: str) -> None:
    engine = open_engine(db_url)
    owed = _seed(engine, seed=11)
    first, second = _fork_biller(db_url), _fork_biller(db_url)
    assert (_exit_code(first), _exit_code(second)) == (0, 0)
    _assert_each_hour_charged_once(engine, owed)
    assert bill(engine, TARIFFS, NOW).charged == []  # a replay charges nothing


def test_an_empty_wallet_never_goes_below_zero(db_url: str) -> None:
    engine = open_engine(db_url)
    owed = _seed(engine, seed=12)
    run = bill(engine, {POOR: TARIFFS[POOR]}, NOW)
    assert list(run.to_base) == [POOR] and run.to_base[POOR].startswith("wallet empty: paid ")
    _assert_poor_paid_in_order(Ledger(engine), owed[POOR])
    # A credit later pays the hours that waited, oldest first, and never more than it holds.
    ledger = Ledger(engine)
    with ledger.transaction() as connection:
        ledger.post(connection, POOR, 500, "credit", "credit:poor:again")
    bill(engine, {POOR: TARIFFS[POOR]}, NOW + HOUR)
    assert ledger.balance(POOR) == 0 == ledger.sum_of_entries(POOR)
