"""One scaler tick at fleet scale: 10,000 accounts on 200 servers, their metrics in a real
influxd (Debian's 1.x, tests/support/influxd.py), the state DB SQLite.

Target (issue 10): one tick (bill, read usage, recommend + caps, record) under 2 s, as a
running scaler has it: the catalog parsed once while unchanged, and the usage window kept
between ticks (scaler/window.py), so a tick reads only the points written since the last.
Three ticks are measured: a scaler's first (the whole window read, the catalog parsed, every
owed hour billed: reported, not held to the target), a steady one 5 s later, and the first
tick of the next hour (billing again). The actuation is counted, not carried (no ssh): the
tick calls it once per server with changes. Each tick's phases are printed, and its usage
read: InfluxDB's answer (HTTP and JSON) and the rows taken into the window.
The fleet: every account sampled every 5 s over the plan's longest window (900 s), most of
them calm, one in ten hot on CPU (a raise each), one in twenty boosted since three hours ago
(two hours to bill, and calm: a lower each). Baseline, measured in the same run: the same
tick for 100 accounts on 2 servers, in a database of their own.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from glue.services.context import Context
from glue.services.converge import ConvergeResult
from glue.state.ledger import Ledger
from glue.state.schema import boosts
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient, Table
from scaler.loop import TickResult, tick
from scaler.window import UsageWindow
from tests.bench.bench_control_plane import generate
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, running_influxd

TARGET_S = 2.0
WINDOW_S = 900 + 10  # the default plan's down-window and two samples more
MIB = 1024 * 1024
# Two ticks before an hour starts, so that the third is the first of the next hour.
NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(seconds=7)
STEP = dt.timedelta(seconds=5)


def _hot(i: int) -> bool:
    return i % 10 == 3


def _boosted(i: int) -> bool:
    return i % 20 == 7


def seed_state(ctx: Context, accounts: int) -> None:
    """Funded wallets; every twentieth account boosted 500 MHz since three hours ago."""
    ledger = Ledger(ctx.engine)
    with ledger.transaction() as connection:
        for i in range(accounts):
            ledger.post(connection, f"a{i:05d}", 100_000, "credit", f"credit:a{i:05d}", "", NOW)
    since = NOW - dt.timedelta(hours=3)
    rows = [
        {"account": f"a{i:05d}", "resource": "cpu", "value": 1500, "since": since, "until": None}
        for i in range(accounts)
        if _boosted(i)
    ]
    if rows:
        with ctx.engine.begin() as connection:
            connection.execute(boosts.insert(), rows)


def seed_metrics(influx: InfluxClient, accounts: int, servers: int) -> None:
    """A sample every 5 s per account over the window and up to the third tick, as the agent
    writes them (each tick reads only what was written up to its time)."""
    end = int((NOW + 2 * STEP).timestamp())
    for first in range(0, accounts, 500):
        rows = []
        for i in range(first, min(first + 500, accounts)):
            limit = 1500 if _boosted(i) else 1000
            cpu = 950 if _hot(i) else 120 + i % 50
            tags = {"server": f"web{i % servers:03d}", "account": f"a{i:05d}"}
            fields = {
                "cpu_mhz": cpu,
                "cpu_limit_mhz": limit,
                "mem_bytes": 300 * MIB,
                "mem_max_bytes": 2048 * MIB,
                "disk_bytes": 1024 * MIB,
                "disk_max_bytes": 30720 * MIB,
                "mem_oom_kills": 0,
            }
            rows += [(tags, fields, at * 1000) for at in range(end - WINDOW_S, end + 1, 5)]
        influx.write("account", rows)


class Timed(InfluxClient):
    """The real client; it also sums the time its queries take (the part of the tick spent
    waiting for InfluxDB and decoding its answer) and counts them."""

    seconds = 0.0
    queries = 0

    def table(self, statement: str, database: str | None = None) -> Table:
        start = time.perf_counter()
        try:
            return super().table(statement, database)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


class TimedWindow(UsageWindow):
    """The real window; it also times its refresh: InfluxDB's answer (the client's queries)
    and the rows taken into the window, which the tick overlaps with billing."""

    seconds = 0.0

    def refresh(self, influx: InfluxClient, now: float, length_s: float) -> None:
        start = time.perf_counter()
        try:
            super().refresh(influx, now, length_s)
        finally:
            self.seconds = time.perf_counter() - start


class Counted:
    """The actuator: counts the servers it is asked to converge; every one takes it."""

    def __init__(self) -> None:
        self.servers: list[str] = []

    def __call__(self, server: str) -> ConvergeResult:
        self.servers.append(server)
        return ConvergeResult(updated=[server])


@dataclass
class Measured:
    seconds: float
    query_s: float
    queries: int
    result: TickResult
    pushed: int  # servers the tick asked to converge
    refresh_s: float  # the window's refresh: the queries and the rows taken


def measure(base: Path, url: str, accounts: int, servers: int) -> list[Measured]:
    """A scaler's first tick, a steady one, and the first of the next hour."""
    root = base / f"fleet{accounts}"
    generate(root, accounts, servers, cores=64, all_elastic=True)  # room for every raise
    ctx = Context(root=root)
    seed_state(ctx, accounts)
    endpoint = Endpoint(url, f"bench{accounts}", "basic", ADMIN, ADMIN_PASSWORD, timeout=300)
    influx = Timed(endpoint)
    influx.execute(f"CREATE DATABASE {influx.database}", database="")
    seed_metrics(influx, accounts, servers)
    window = TimedWindow()
    out: list[Measured] = []
    last: dt.datetime | None = None
    for now in (NOW, NOW + STEP, NOW + 2 * STEP):
        actuate = Counted()
        influx.seconds, influx.queries = 0.0, 0
        start = time.perf_counter()
        result = tick(ctx, influx, now, actuate, last_tick=last, window=window)
        seconds = time.perf_counter() - start
        pushed, refresh_s = len(actuate.servers), window.seconds
        out.append(Measured(seconds, influx.seconds, influx.queries, result, pushed, refresh_s))
        last = now
    return out


def _kinds(result: TickResult) -> str:
    counts: dict[str, int] = {}
    for decision in result.decisions.values():
        counts[decision.kind] = counts.get(decision.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


TICKS = ("first tick (whole window read, catalog parsed)", "steady tick", "first tick of an hour")


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, running_influxd(Path(tmp) / "influxd") as influxd:
        small = measure(Path(tmp), influxd.url, 100, 2)
        big = measure(Path(tmp), influxd.url, 10_000, 200)

    def parts(m: Measured) -> str:
        phases = ", ".join(f"{name} {s:.3f} s" for name, s in m.result.seconds.items())
        return (
            f"    {m.queries} InfluxQL quer{'y' if m.queries == 1 else 'ies'} {m.query_s:.3f} s "
            f"+ rows into the window {m.refresh_s - m.query_s:.3f} s; "
            f"phases: {phases}\n    {_kinds(m.result)}; "
            f"{m.pushed} servers pushed; {len(m.result.errors)} errors"
        )

    lines = ["scaler tick (bill, read usage, decide, record; actuation counted, not carried)"]
    for n, what in enumerate(TICKS):
        lines += [
            f"{what}:",
            f"  baseline: 100 accounts, 2 servers   {small[n].seconds:8.3f} s",
            parts(small[n]),
        ]
        ratio = big[n].seconds / small[n].seconds
        held = n > 0  # the target is a running scaler's tick
        verdict = "" if not held else "ok" if big[n].seconds < TARGET_S else "OVER TARGET"
        target = f" = {big[n].seconds / TARGET_S:.2f} x target (< {TARGET_S:g} s) {verdict}"
        lines += [
            f"  10,000 accounts, 200 servers        {big[n].seconds:8.3f} s  = "
            f"{ratio:6.1f} x baseline{target if held else ''}",
            parts(big[n]),
        ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
