"""The scaler's lease in a real state DB: one holder at a time, taken over after expiry
(tests/integration/test_scaler_lease_postgres.py reruns these on PostgreSQL via `db_url`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Engine

from glue.services.context import Context
from glue.services.converge import ConvergeResult
from glue.state.db import open_engine
from scaler import lease
from scaler.influx import InfluxClient
from scaler.run import run

T0 = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=30)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return open_engine(db_url)


def test_two_holders_one_lease_and_takeover_after_expiry(engine: Engine) -> None:
    assert lease.take(engine, "a", T0, TTL)
    assert not lease.take(engine, "b", T0 + dt.timedelta(seconds=5), TTL)
    assert lease.take(engine, "a", T0 + dt.timedelta(seconds=20), TTL)  # renewed to +50 s
    assert not lease.take(engine, "b", T0 + dt.timedelta(seconds=45), TTL)
    # a dies: nobody renews; once its lease has expired b takes over, and a cannot come back.
    assert lease.take(engine, "b", T0 + dt.timedelta(seconds=51), TTL)
    assert not lease.take(engine, "a", T0 + dt.timedelta(seconds=52), TTL)
    held = lease.current(engine)
    assert held is not None and held.holder == "b"
    assert held.expires_at == T0 + dt.timedelta(seconds=81)


def test_release_lets_the_next_take_over_at_once(engine: Engine) -> None:
    assert lease.take(engine, "a", T0, TTL)
    lease.release(engine, "b", T0)  # not b's: nothing happens
    assert not lease.take(engine, "b", T0 + dt.timedelta(seconds=1), TTL)
    lease.release(engine, "a", T0 + dt.timedelta(seconds=1))
    assert lease.take(engine, "b", T0 + dt.timedelta(seconds=2), TTL)


@dataclass
class _Ctx:
    """What `run` needs of a Context when `tick` is replaced: the engine."""

    engine: Engine


def _context(engine: Engine) -> Context:
    return cast(Context, _Ctx(engine))


NO_INFLUX = cast(InfluxClient, None)  # never asked: `tick` is replaced or never reached


def _never(server: str) -> ConvergeResult:
    raise AssertionError(f"{server}: nothing is actuated here")


def test_a_second_scaler_waits_then_takes_over(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lease.take(engine, "first", T0, TTL)
    clock = iter(T0 + dt.timedelta(seconds=s) for s in range(0, 200, 10))
    ticks: list[dt.datetime] = []

    def stop_after_two_ticks(_: float) -> None:
        if len(ticks) == 2:
            raise KeyboardInterrupt

    def record(ctx: object, influx: object, now: dt.datetime, actuate: object, **_: object) -> None:
        ticks.append(now)

    monkeypatch.setattr("scaler.run.tick", record)
    with pytest.raises(KeyboardInterrupt):
        run(_context(engine), NO_INFLUX, _never, holder="second", clock=lambda: next(clock),
            sleep=stop_after_two_ticks)  # fmt: skip
    # "first" held it until T0 + 30 s: "second" waited, then ticked at 40 s and 50 s.
    assert ticks == [T0 + dt.timedelta(seconds=40), T0 + dt.timedelta(seconds=50)]
    held = lease.current(engine)
    assert held is not None and held.holder == "second" and held.last_tick == ticks[-1]
    assert held.expires_at <= T0 + dt.timedelta(seconds=60)  # released on the way out


def test_once_while_another_holds_the_lease_names_it(engine: Engine) -> None:
    from glue.errors import BubbleError

    assert lease.take(engine, "web-control:42", T0, TTL)
    with pytest.raises(BubbleError, match="held by web-control:42"):
        run(_context(engine), NO_INFLUX, _never, once=True, holder="me", clock=lambda: T0)
