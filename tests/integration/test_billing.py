"""Elastic billing against crashes and races, on SQLite and on a real PostgreSQL: a biller
SIGKILLed at random points of a run and restarted charges each hour exactly once, two billers
at once charge it once, and an empty wallet never goes below zero.

Billers are forked from this process (already importing glue takes ~3 s per fresh
interpreter on a loaded machine, which would allow a handful of kill points, not a hundred);
each is a process of its own with its own engine, killed with os.kill(pid, SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('billing') / 'state.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


def _recorded_days(seed: int) -> dict[str, list[tuple[str, int, dt.datetime, dt.datetime | None]]]:
    """Two days of boosts per account (value in force, from, until), changing at any second."""
    rng = random.Random(seed)
    days: dict[str, list[tuple[str, int, dt.datetime, dt.datetime | None]]] = {}
    for account in [*RICH, POOR]:
        rows = []
        for resource, base, step in (("cpu", 1000, 500), ("memory", 1024, 512)):
            moment = START + dt.timedelta(seconds=rng.randrange(3600))
            while moment < NOW:
                length = dt.timedelta(seconds=rng.randrange(60, 6 * 3600))
                until = moment + length
                value = base + step * rng.randrange(0, 6) + rng.randrange(0, step)
                rows.append((resource, value, moment, None if until >= NOW else until))
                moment = until + dt.timedelta(seconds=rng.randrange(0, 1800))
        days[account] = rows
    return days


def _seed(engine: Engine, seed: int) -> dict[str, dict[dt.datetime, int]]:
    """Record the days and the wallets; returns what each account owes per hour."""
    ledger = Ledger(engine)
    owed: dict[str, dict[dt.datetime, int]] = {}
    for account, rows in _recorded_days(seed).items():
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
        owed[account] = hourly_charges(intervals, RULES, NOW)
    assert sum(owed[POOR].values()) > POOR_CREDIT, "the poor account must run out"
    return owed


TARIFFS = {account: Tariff(BASE, RULES) for account in [*RICH, POOR]}


def _fork_biller(db_url: str) -> int:
    """A biller process of its own (own engine, own connections); exit 0 when its run ends."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            bill(open_engine(db_url), TARIFFS, NOW)
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


def _replay_seconds(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path, seed: int
) -> float:
    """How long a run that charges nothing takes here (fork, engine, meter, look-ups), timed
    on a twin of the seeded database after a run that charged it all."""
    if db_url.startswith("sqlite"):
        twin = f"sqlite:///{tmp_path / 'twin.sqlite'}"
    else:
        twin = fresh_database(request.getfixturevalue("postgres_server"))
    _seed(open_engine(twin), seed)
    assert _exit_code(_fork_biller(twin)) == 0
    started = time.monotonic()
    assert _exit_code(_fork_biller(twin)) == 0
    return time.monotonic() - started


def test_a_biller_killed_at_random_points_charges_each_hour_once(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine = open_engine(db_url)
    owed = _seed(engine, seed=10)
    # A run that charges takes about twice a replay: most kills land before a run would end
    # (inside its look-ups or between its transactions), the rest after it (restarts).
    window = 1.5 * _replay_seconds(db_url, request, tmp_path, seed=10)
    rng = random.Random(db_url)
    interrupted = attempts = 0
    started = time.monotonic()
    # A loaded machine slows some runs past the window: kill on until 30 landed inside one.
    while attempts < KILL_POINTS or (interrupted < 30 and attempts < 3 * KILL_POINTS):
        attempts += 1
        pid = _fork_biller(db_url)
        time.sleep(rng.uniform(0, window))
        os.kill(pid, signal.SIGKILL)
        interrupted += _exit_code(pid) is None
    assert _exit_code(_fork_biller(db_url)) == 0  # the restart that finishes the run
    _assert_each_hour_charged_once(engine, owed)
    assert interrupted >= 30, f"only {interrupted} of {attempts} kills landed inside a run"
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
