"""One scaler tick against a real state DB (SQLite) and a real influxd holding samples written
here; actuation is a fake that says which servers took their limits. And `bubble scaler`."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from glue.catalog import save_account, save_servers
from glue.models import Upgrade
from glue.services.context import Context
from glue.services.converge import ConvergeResult, Pending
from glue.services.wallets import credit
from glue.state.boosts import apply_levels, boosts_at
from glue.state.schema import scaler_events
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from scaler.loop import tick
from scaler.run import run
from tests.support.cli import CliResult
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd, running_influxd
from tests.support.models import account, server

MIB = 1024 * 1024
_databases = itertools.count()


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as running:
        yield running


@pytest.fixture
def influx(influxd: Influxd) -> InfluxClient:
    """A fresh database per test (autogen retention: old samples are kept)."""
    client = InfluxClient(
        Endpoint(influxd.url, f"loop{next(_databases)}", "basic", ADMIN, ADMIN_PASSWORD)
    )
    client.execute(f"CREATE DATABASE {client.database}", database="")
    return client


@pytest.fixture
def ctx(root: Path) -> Context:
    """web1 and web2; alice (elastic) and bob (not) on web1, carol (elastic) on web2; the
    base plan's cpu: base 1000 MHz, step 500, up at 90% for 120 s."""
    context = Context(root=root)
    catalog = context.catalog()
    catalog = catalog.with_server("web1", server()).with_server("web2", server())
    save_servers(catalog)
    for name, where, elastic in (("alice", "web1", True), ("bob", "web1", False),
                                 ("carol", "web2", True)):  # fmt: skip
        catalog = catalog.with_account(
            name, account(where, elastic=elastic, domains=[f"{name}.example"])
        )
        save_account(catalog, name)
        credit(context, name, "100.00")
    return context


NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def write(
    influx: InfluxClient,
    name: str,
    cpu_mhz: int,
    *,
    until: dt.datetime = NOW,
    seconds: int = 1000,
    cpu_limit: int = 1000,
    oom_kills: int = 0,
) -> None:
    """One sample every 5 s for `seconds` up to `until`, as the agent writes them."""
    end = int(until.timestamp())
    rows = [
        (
            {"server": "web1", "account": name},
            {
                "cpu_mhz": cpu_mhz,
                "cpu_limit_mhz": cpu_limit,
                "mem_bytes": 300 * MIB,
                "mem_max_bytes": 2048 * MIB,
                "disk_bytes": 1024 * MIB,
                "disk_max_bytes": 30720 * MIB,
                "mem_oom_kills": oom_kills,
            },
            at * 1000,
        )
        for at in range(end - seconds, end + 1, 5)
    ]
    influx.write("account", rows)


class Actuator:
    """The fake limits push: records each call; `busy` servers are locked, `broken` fail."""

    def __init__(self, busy: tuple[str, ...] = (), broken: tuple[str, ...] = ()) -> None:
        self.calls: list[str] = []
        self.busy, self.broken = busy, broken

    def __call__(self, name: str) -> ConvergeResult:
        self.calls.append(name)
        if name in self.broken:
            raise RuntimeError(f"{name}: limits.yml failed")
        if name in self.busy:
            return ConvergeResult(pending=[Pending(name, "busy", "another run holds the lock")])
        return ConvergeResult(updated=[name])


def events(ctx: Context) -> list[tuple[str, str, str, int, int]]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(select(scaler_events).order_by(scaler_events.c.id)).all()
    return [(r.account, r.resource, r.kind, r.from_value, r.to_value) for r in rows]


def test_sustained_hot_cpu_raises_one_step_and_records_it(
    ctx: Context, influx: InfluxClient
) -> None:
    write(influx, "alice", 950)
    actuate = Actuator()
    result = tick(ctx, influx, NOW, actuate)
    assert result.decisions["alice", "cpu"].kind == "raise"
    assert actuate.calls == ["web1"]
    assert result.done == ["web1"]
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}
    assert events(ctx) == [("alice", "cpu", "raise", 1000, 1500)]
    # The next tick sees samples under the old limit: the window starts again, no second step.
    again = tick(ctx, influx, NOW + dt.timedelta(seconds=5), Actuator())
    assert again.decisions["alice", "cpu"].kind == "hold"
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}


def test_a_catalog_change_between_ticks_is_seen_on_the_next(
    ctx: Context, influx: InfluxClient, bubble: Callable[..., CliResult]
) -> None:
    """The scaler reuses the account files it parsed while they are unchanged; one that
    `bubble account set` rewrote is read again by the very next tick."""
    for path in (ctx.root / "catalog" / "accounts").iterdir():  # parsed by an earlier tick
        os.utime(path, ns=(1, 1_000_000_000))
    first = tick(ctx, influx, NOW, Actuator())
    assert first.decisions["alice", "cpu"].from_ == 1000
    bob = ctx.catalog().accounts["bob"]
    assert bubble("account", "set", "alice", "--cpu", "2GHz")[0] == 0
    second = tick(ctx, influx, NOW + dt.timedelta(seconds=5), Actuator())
    assert second.decisions["alice", "cpu"].from_ == 2000
    assert ctx.catalog().accounts["bob"] is bob  # unchanged: not parsed again


def test_elasticity_off_stays_at_base(ctx: Context, influx: InfluxClient) -> None:
    write(influx, "bob", 1000)
    actuate = Actuator()
    result = tick(ctx, influx, NOW, actuate)
    decision = result.decisions["bob", "cpu"]
    assert decision.kind == "hold" and "elasticity is off" in decision.reason
    assert actuate.calls == [] and boosts_at(ctx.engine) == {} and events(ctx) == []


def test_stale_or_missing_metrics_hold(ctx: Context, influx: InfluxClient) -> None:
    write(influx, "alice", 1000, until=NOW - dt.timedelta(seconds=60))  # the agent went quiet
    actuate = Actuator()
    result = tick(ctx, influx, NOW, actuate)
    assert result.decisions["alice", "cpu"].kind == "hold"
    assert "usage missing" in result.decisions["alice", "cpu"].reason
    assert "no samples" in result.decisions["carol", "cpu"].reason  # never reported at all
    assert actuate.calls == [] and boosts_at(ctx.engine) == {}


def test_influxdb_away_holds_everyone(ctx: Context) -> None:
    gone = InfluxClient(Endpoint("http://127.0.0.1:9", "nowhere", timeout=0.5))
    result = tick(ctx, gone, NOW, Actuator())
    assert "influxdb" in result.errors
    assert {d.kind for d in result.decisions.values()} == {"hold"}


def test_a_busy_server_is_retried_next_tick(ctx: Context, influx: InfluxClient) -> None:
    write(influx, "alice", 950)
    busy = Actuator(busy=("web1",))
    result = tick(ctx, influx, NOW, busy)
    assert busy.calls == ["web1"] and "web1" in result.busy
    assert boosts_at(ctx.engine) == {}  # recorded, then rolled back: nothing billed
    assert events(ctx) == [("alice", "cpu", "deferred", 1000, 1500)]
    later = NOW + dt.timedelta(seconds=5)
    write(influx, "alice", 950, until=later, seconds=5)
    actuate = Actuator()
    result = tick(ctx, influx, later, actuate)
    assert actuate.calls == ["web1"] and result.done == ["web1"]
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}


def test_one_failing_server_never_stops_the_others(ctx: Context, influx: InfluxClient) -> None:
    write(influx, "alice", 950)
    write(influx, "carol", 950)
    actuate = Actuator(broken=("web1",))
    result = tick(ctx, influx, NOW, actuate)
    assert actuate.calls == ["web1", "web2"]
    assert "web1" in result.errors and result.done == ["web2"]
    assert boosts_at(ctx.engine) == {"carol": {"cpu": 1500}}


def test_an_empty_wallet_goes_back_to_base(ctx: Context, influx: InfluxClient) -> None:
    write(influx, "alice", 950)
    tick(ctx, influx, NOW, Actuator())
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}
    with ctx.ledger.transaction() as connection:  # spend the wallet down to nothing
        ctx.ledger.post(connection, "alice", -10_000, "charge", "spent", "test", NOW)
    later = NOW + dt.timedelta(hours=2)
    write(influx, "alice", 200, until=later, seconds=1000, cpu_limit=1500)
    actuate = Actuator()
    result = tick(ctx, influx, later, actuate)
    assert "alice" in result.to_base
    lowered = result.decisions["alice", "cpu"]
    assert lowered.kind == "lower" and "back to base, wallet empty" in lowered.reason
    assert actuate.calls == ["web1"] and boosts_at(ctx.engine) == {}


def test_an_oom_kill_since_the_last_tick_raises_memory_at_once(
    ctx: Context, influx: InfluxClient
) -> None:
    write(influx, "alice", 100, until=NOW - dt.timedelta(seconds=5), seconds=30)
    write(influx, "alice", 100, until=NOW, seconds=0, oom_kills=1)
    last = NOW - dt.timedelta(seconds=5)
    result = tick(ctx, influx, NOW, Actuator(), last_tick=last)
    raised = result.decisions["alice", "memory"]
    assert raised.kind == "raise" and "oom_kill" in raised.reason
    assert boosts_at(ctx.engine) == {"alice": {"memory": 2560}}
    # The same kill is not counted again by the next tick.
    again = tick(ctx, influx, NOW + dt.timedelta(seconds=5), Actuator(), last_tick=NOW)
    assert again.decisions["alice", "memory"].kind == "hold"


def test_cli_status_and_a_bad_interval(bubble: Callable[..., CliResult]) -> None:
    code, out, err = bubble("scaler", "status", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["holder"] is None and data["last_tick"] is None
    assert data["last_hour"] == {"raise": 0, "lower": 0, "deferred": 0}
    code, _, err = bubble("scaler", "run", "--once", "--interval", "soon")
    assert (
        code == 1 and err == "error: --interval 'soon': a duration of at least 1s, e.g. 5s or 1m\n"
    )


def test_taking_the_lease_re_pushes_the_limits_in_force_first(
    ctx: Context, influx: InfluxClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A scaler died between recording alice's boost and rolling it back: the DB says 1500
    MHz, web1 was never told. The next scaler pushes every server once before its first
    tick; web1 down does not stop web2 nor the tick."""
    apply_levels(ctx.engine, [("alice", "cpu", 1500, "cpu: crash before roll back")], NOW)
    actuate = Actuator(broken=("web1",))
    calls_at_tick: list[list[str]] = []

    def first_tick(*args: object, **kwargs: object) -> None:  # what was pushed by then
        calls_at_tick.append(list(actuate.calls))

    caplog.set_level(logging.INFO, logger="bubble.scaler")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("scaler.run.tick", first_tick)
        run(ctx, influx, actuate, once=True, holder="next", clock=lambda: NOW)
    assert calls_at_tick == [["web1", "web2"]]  # one push per server, before the tick
    assert "web1: limits not re-pushed: limits push failed: web1: limits.yml failed" in caplog.text
    assert "re-pushed to 1 of 2 servers" in caplog.text
    # A scaler that goes on holding the lease pushes once, not every tick.
    again = Actuator()
    moments = iter(NOW + dt.timedelta(seconds=5 * n) for n in range(1, 10))

    def stop_after_three_ticks(_: float) -> None:
        if len(calls_at_tick) == 4:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr("scaler.run.tick", first_tick)
        run(ctx, influx, again, holder="again", clock=lambda: next(moments),
            sleep=stop_after_three_ticks)  # fmt: skip
    assert again.calls == ["web1", "web2"]


def test_an_upgrade_ending_at_midnight_is_pushed_and_recorded_by_the_next_days_first_tick(
    ctx: Context, influx: InfluxClient
) -> None:
    """alice bought 500 MHz until tomorrow: nothing in the catalog changes at midnight, yet
    her base drops. The scaler holding the lease pushes web1 (only) at the first tick of the
    new day and writes the lower into her history; ticks within one day push nothing."""
    today = NOW.date()
    catalog = ctx.catalog()
    upgrade = {"resource": "cpu", "amount": 500, "expires": today + dt.timedelta(days=1),
               "key": "upgrade:alice:1"}  # fmt: skip
    catalog = catalog.with_account(
        "alice", catalog.accounts["alice"].model_copy(update={"upgrades": [Upgrade(**upgrade)]})
    )
    save_account(catalog, "alice")
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    moments = iter(midnight + dt.timedelta(seconds=s) for s in (-10, -5, 1, 6, 7))  # 7: the release
    actuate = Actuator()
    pushed: list[list[str]] = []

    def a_tick(*args: object, **kwargs: object) -> None:
        pushed.append(list(actuate.calls))
        if len(pushed) == 4:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr("scaler.run.tick", a_tick)
        run(ctx, influx, actuate, holder="one", clock=lambda: next(moments), sleep=lambda _: None)
    repaired = ["web1", "web2"]  # taking the lease
    assert pushed == [repaired, repaired, [*repaired, "web1"], [*repaired, "web1"]]
    assert events(ctx) == [("alice", "cpu", "lower", 1500, 1000)]


def test_billing_runs_at_the_first_tick_of_an_hour_and_charges_every_hour_owed(
    ctx: Context, influx: InfluxClient
) -> None:
    """alice boosted one 500 MHz step (2 cents an hour) for three hours: ticks within an hour charge
    nothing; the first tick of the next hour charges each completed hour once, to the cent."""
    hour = NOW.replace(minute=0, second=0)
    apply_levels(ctx.engine, [("alice", "cpu", 1500, "cpu: test")], hour - dt.timedelta(hours=3))
    tick(ctx, influx, hour + dt.timedelta(seconds=10), Actuator(),
                     last_tick=hour + dt.timedelta(seconds=5))  # fmt: skip
    assert [e.kind for e in ctx.ledger.entries("alice")] == ["credit"]
    first = tick(ctx, influx, hour + dt.timedelta(seconds=10), Actuator(),
                 last_tick=hour - dt.timedelta(seconds=5))  # fmt: skip
    charges = [e.amount_cents for e in ctx.ledger.entries("alice") if e.kind == "charge"]
    assert charges == [-2, -2, -2]
    assert first.to_base == {}
    again = tick(ctx, influx, hour + dt.timedelta(seconds=20), Actuator())  # a restart: replay
    assert again.errors == {} and len(ctx.ledger.entries("alice")) == 4
