"""The scaler as an operator runs it, on a real influxd and a real state DB (SQLite and
PostgreSQL): InfluxDB stopped for a while (no limit change, no charge beyond the boosts in
force, the agent's buffer delivers afterwards and the scaler decides again), and two
`bubble scaler run` processes at once (one acts, the other waits and takes over when the first
is SIGKILLed)."""

from __future__ import annotations

import datetime as dt
import json
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from glue.catalog import save_account, save_servers
from glue.services.context import Context
from glue.services.converge import ConvergeResult
from glue.services.root import init_root
from glue.services.wallets import credit
from glue.settings import Settings
from glue.state.boosts import boosts_at
from glue.state.schema import boosts, scaler_events
from scaler.agent_buffer import PointBuffer
from scaler.agent_lineproto import point
from scaler.billing import Interval, hourly_charges, ledger_key
from scaler.influx import InfluxClient
from scaler.loop import tick
from scaler.run import lease_ttl
from tests.integration.test_ledger_postgres import fresh_database, postgres_server  # noqa: F401
from tests.support.cli import start
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd
from tests.support.models import account, server
from tests.unit.test_scaler_loop import influx, influxd  # noqa: F401 - the same fixtures

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Context:
    """web1 with alice (elastic, 100.00 in her wallet) and bob (elastic, 100.00)."""
    context = Context(root=init_root(tmp_path / "ops"), settings=Settings(database_url=db_url))
    catalog = context.catalog().with_server("web1", server())
    save_servers(catalog)
    for name in ("alice", "bob"):
        elastic = account("web1", elastic=True, domains=[f"{name}.example"])
        catalog = catalog.with_account(name, elastic)
        save_account(catalog, name)
        credit(context, name, "100.00")
    return context


def _line(name: str, cpu: int, limit: int, at: float) -> str:
    fields = {"cpu_mhz": cpu, "cpu_limit_mhz": limit, "mem_bytes": 300 * MIB,
              "mem_max_bytes": 2048 * MIB, "disk_bytes": 1024 * MIB,
              "disk_max_bytes": 30720 * MIB, "mem_oom_kills": 0}  # fmt: skip
    return point("account", {"server": "web1", "account": name}, fields, int(at * 1000))


def _took(server: str) -> ConvergeResult:
    return ConvergeResult(updated=[server])


def _events(ctx: Context) -> list[tuple[str, str, int, int]]:
    with ctx.engine.connect() as connection:
        rows = connection.execute(select(scaler_events).order_by(scaler_events.c.id)).all()
    return [(r.account, r.kind, r.from_value, r.to_value) for r in rows]


def _charges(ctx: Context, name: str) -> dict[str, int]:
    return {e.key: -e.amount_cents for e in ctx.ledger.entries(name) if e.kind == "charge"}


def test_an_influxdb_outage_changes_nothing_and_the_buffer_lets_it_decide_again(
    ctx: Context,
    influx: InfluxClient,  # noqa: F811 - the fixture
    influxd: Influxd,  # noqa: F811
) -> None:
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    t0 = hour - dt.timedelta(hours=3) + dt.timedelta(minutes=10)
    start = t0.timestamp()
    # alice hot for the up-window at base: the first tick raises her (500 MHz above base).
    endpoint = influx.endpoint  # how the agent writes there
    endpoint.write_lines([_line("alice", 950, 1000, start - s) for s in range(0, 300, 5)])
    assert tick(ctx, influx, t0, _took).decisions["alice", "cpu"].kind == "raise"
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}

    influxd.stop()
    # The agent goes on sampling alice, calm now, into its buffer: InfluxDB refuses them.
    buffer = PointBuffer(8 * 1024 * 1024)
    outage = range(5, 75 * 60, 5)
    for s in outage:
        buffer.add([_line("alice", 100, 1500, start + s)])
        assert buffer.flush(lambda body: endpoint.write(body, "ms", gzipped=True)).error
    last = t0
    for minutes in (1, 20, 45, 70):  # across an hour's end: billing goes on meanwhile
        now = t0 + dt.timedelta(minutes=minutes)
        result = tick(ctx, influx, now, _took, last_tick=last)
        last = now
        assert "influxdb" in result.errors
        assert {d.kind for d in result.decisions.values()} == {"hold"}
    assert boosts_at(ctx.engine) == {"alice": {"cpu": 1500}}
    assert _events(ctx) == [("alice", "raise", 1000, 1500)]  # no change during the outage
    # Charged: exactly the boost in force (500 MHz since t0), per completed hour, no more.
    rules = ctx.catalog().plans["base"].elastic
    owed = hourly_charges([Interval("cpu", 500, t0, None)], rules, last)
    assert owed and _charges(ctx, "alice") == {ledger_key("alice", h): c for h, c in owed.items()}
    assert _charges(ctx, "bob") == {}

    influxd.start()
    sent = buffer.flush(lambda body: endpoint.write(body, "ms", gzipped=True))
    assert (sent.error, sent.sent, buffer.points) == ("", len(outage), 0)
    after = t0 + dt.timedelta(minutes=75)
    result = tick(ctx, influx, after, _took, last_tick=last)
    lowered = result.decisions["alice", "cpu"]
    assert lowered.kind == "lower" and (lowered.from_, lowered.to) == (1500, 1000)
    assert boosts_at(ctx.engine) == {}


# -- two `bubble scaler run` processes ------------------------------------------------------


class Lines:
    """A process's stdout, line by line, read by a thread (so waiting for one can time out)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self._queue.put(x) for x in stdout], daemon=True).start()

    def drain(self) -> list[str]:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.seen
            try:
                self.seen.append(json.loads(line)["message"])
            except ValueError:
                self.seen.append(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until a line containing `text`; fails after `timeout`."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if any(text in line for line in self.drain()):
                return time.monotonic() - began
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout} s: {self.drain()}")

    def having(self, text: str) -> list[str]:
        return [line for line in self.drain() if text in line]


def test_two_scalers_one_acts_and_the_other_takes_over_when_it_dies(
    ctx: Context,
    influx: InfluxClient,  # noqa: F811 - the fixture
    influxd: Influxd,  # noqa: F811
    db_url: str,
) -> None:
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(hours=2, minutes=30)  # alice boosted: two hours to bill
    with ctx.engine.begin() as connection:
        connection.execute(boosts.insert().values(account="alice", resource="cpu", value=1500,
                                                  since=since, until=None))  # fmt: skip
    # bob hot for the next minutes: each tick raises him, web1 is not built, so the raise is
    # rolled back and recorded as deferred: one event per tick of the scaler that acts.
    at = now.timestamp()
    influx.endpoint.write_lines([_line("bob", 950, 1000, at + s) for s in range(-300, 240, 5)])
    env = {
        "BUBBLE_DATABASE_URL": db_url,
        "BUBBLE_INFLUX_URL": influxd.url,
        "BUBBLE_INFLUX_DATABASE": influx.database,
        "BUBBLE_INFLUX_AUTH": "basic",
        "BUBBLE_INFLUX_USERNAME": ADMIN,
        "BUBBLE_INFLUX_PASSWORD": ADMIN_PASSWORD,
    }
    args = ("scaler", "run", "--interval", "1s", "--json")
    first = start(*args, root=ctx.root, env=env, output=subprocess.PIPE)
    second: subprocess.Popen[str] | None = None
    try:
        one = Lines(first)
        one.wait_for("re-pushed", 60)  # it took the lease (and re-pushed web1: unbuilt)
        second = start(*args, root=ctx.root, env=env, output=subprocess.PIPE)
        two = Lines(second)
        two.wait_for("waiting to take over", 60)
        one.wait_for("deferred", 30)
        time.sleep(3)  # a few ticks of both
        first.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert first.wait(10) == -signal.SIGKILL
        # The dead one acted alone: every event and charge is its own, each once.
        deferred = [e for e in _events(ctx) if e[1] == "deferred"]
        # Each deferral is logged just before it is recorded: a kill between the two leaves
        # at most the last tick's line unrecorded, never an event without its line.
        assert deferred and len(one.having(": deferred: ")) - len(deferred) in (0, 1)
        charged = _charges(ctx, "alice")

        def owed(at: dt.datetime) -> dict[str, int]:
            hours = hourly_charges([Interval("cpu", 500, since, None)],
                                   ctx.catalog().plans["base"].elastic, at)  # fmt: skip
            return {ledger_key("alice", h): c for h, c in hours.items()}

        # What was owed when the test began, or at the kill if an hour ended in between.
        assert charged in (owed(now), owed(dt.datetime.now(dt.UTC))) and charged != {}
        assert len(one.having("alice: charge: ")) == len(charged)
        assert two.having("charge") == two.having("deferred") == two.having("re-pushed") == []
        # The second takes over once the dead one's lease expires: within the lease time.
        two.wait_for("took the lease: this scaler acts now", 60)
        took_over = time.monotonic() - killed
        assert took_over <= lease_ttl(1).total_seconds() + 3
        two.wait_for("re-pushed", 10)
        two.wait_for("deferred", 30)
        # The hours already billed: never again (an hour ended since: billed once, as owed).
        assert _charges(ctx, "alice") in (charged, owed(dt.datetime.now(dt.UTC)))
        second.send_signal(signal.SIGTERM)  # a clean stop releases the lease
        assert second.wait(30) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
