"""The scaler's usage window (scaler/window.py) against a real influxd: a running scaler reads
only what is new, yet misses nothing: late points within the overlap, a hole filled later by
an agent's buffer, a window that grows, fields an agent could not read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient, Table
from scaler.metrics import Window, query
from scaler.window import HEAL_EVERY_S, UsageWindow
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, running_influxd

MIB = 1024 * 1024
T0 = 1_700_000_000  # seconds; every sample on a 5 s grid from here
LIMITS = {"cpu_limit_mhz": 1000, "mem_max_bytes": 2048 * MIB, "disk_max_bytes": 30720 * MIB}


class Counting(InfluxClient):
    """The real client; it also counts the rows each query returned."""

    rows: list[int]

    def table(self, statement: str, database: str | None = None) -> Table:
        out = super().table(statement, database)
        self.rows.append(len(out[1]))
        return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as influxd:
        yield influxd.url


@pytest.fixture
def influx(server: str, request: pytest.FixtureRequest) -> Counting:
    database = request.node.name.replace("test_", "w")[:60]
    client = Counting(Endpoint(server, database, "basic", ADMIN, ADMIN_PASSWORD))
    client.rows = []
    client.execute(f'CREATE DATABASE "{database}"', database="")
    return client


def write(influx: InfluxClient, account: str, seconds: range, **fields: Any) -> None:
    values = {"cpu_mhz": 100, "mem_bytes": 300 * MIB, "disk_bytes": MIB, **LIMITS, **fields}
    values = {name: value for name, value in values.items() if value is not None}
    tags = {"server": "web1", "account": account}
    influx.write("account", [(tags, values, (T0 + s) * 1000) for s in seconds])


def cpu_times(window: UsageWindow, account: str, now: int) -> list[float]:
    return [t - T0 for t in window.usage(account, "cpu", T0 + now, 1000, T0 + now - 5).times]


def test_a_tick_reads_only_the_new_points_and_forgets_the_old(influx: Counting) -> None:
    for name in ("alice", "bob"):
        write(influx, name, range(0, 101, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 100, 60)
    assert cpu_times(window, "alice", 100) == list(range(40, 101, 5))
    write(influx, "alice", range(105, 111, 5))
    write(influx, "bob", range(105, 111, 5))
    window.refresh(influx, T0 + 110, 60)
    # The read covered one interval before the last one: 95..110 of two accounts.
    assert influx.rows == [2 * 13, 2 * 4]
    assert cpu_times(window, "bob", 110) == list(range(50, 111, 5))


def test_a_point_that_reached_influxdb_late_is_taken(influx: Counting) -> None:
    write(influx, "alice", range(0, 66, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 72, 60)  # the point of 70 is on its way
    write(influx, "alice", range(70, 76, 5), cpu_mhz=950)
    window.refresh(influx, T0 + 76, 60)
    usage = window.usage("alice", "cpu", T0 + 76, 1000, T0 + 72)
    assert [t - T0 for t in usage.times][-3:] == [65, 70, 75]
    assert list(usage.uses[-2:]) == [950, 950]


def test_a_hole_filled_later_by_a_buffering_agent_is_read_again(influx: Counting) -> None:
    write(influx, "alice", range(0, 51, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 50, 300)
    # InfluxDB did not hear alice's agent from 55 to 85; her 90 arrives first.
    write(influx, "alice", range(90, 91, 5))
    window.refresh(influx, T0 + 90, 300)
    assert cpu_times(window, "alice", 90)[-2:] == [50, 90]
    # The agent's buffer reaches InfluxDB: the window reads alice again, whole, once a
    # minute, not at every tick.
    write(influx, "alice", range(55, 86, 5))
    write(influx, "alice", range(95, 116, 5))
    for now in (95, 105):
        window.refresh(influx, T0 + now, 300)
    # The overlap took 85 at once; 55..80 are older than that.
    assert cpu_times(window, "alice", 105)[-6:] == [50, 85, 90, 95, 100, 105]
    assert len(influx.rows) == 4  # the reads at 50, 90, 95 and 105
    window.refresh(influx, T0 + 110, 300)  # a minute after the first read
    assert len(influx.rows) == 6  # and the one healing read
    assert cpu_times(window, "alice", 110) == list(range(0, 111, 5))
    window.refresh(influx, T0 + 115, 300)
    assert len(influx.rows) == 7  # healed: no read of alice alone any more


def test_a_hole_never_filled_is_tried_again_only_once_a_minute(influx: Counting) -> None:
    write(influx, "alice", range(0, 21, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 20, 600)
    write(influx, "alice", range(60, 121, 5))
    for now in range(60, 121, 5):
        window.refresh(influx, T0 + now, 600)
    ticks = len(range(60, 121, 5))
    heals = len(influx.rows) - 1 - ticks
    assert heals == 60 // HEAL_EVERY_S  # at 80 only: a minute after the first read
    # And the hole keeps holding alice: her samples say nothing about 20..60.
    usage = window.usage("alice", "cpu", T0 + 120, 1000, T0 + 115)
    assert usage.gap(T0, 10) == "a gap of 40 s in the last 120 s"


def test_a_longer_window_is_read_whole_again(influx: Counting) -> None:
    write(influx, "alice", range(0, 301, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 300, 60)
    window.refresh(influx, T0 + 300, 200)  # a plan's down-window grew
    assert cpu_times(window, "alice", 300) == list(range(100, 301, 5))
    assert influx.rows == [13, 41]


def test_a_field_not_read_is_a_hole_never_a_zero(influx: Counting) -> None:
    write(influx, "alice", range(0, 26, 5))
    write(influx, "alice", range(30, 31, 5), disk_bytes=None, disk_max_bytes=None)
    write(influx, "alice", range(35, 61, 5))
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 60, 60)
    disk = window.usage("alice", "disk", T0 + 60, 30720, T0 + 55)
    assert 30 not in [t - T0 for t in disk.times]
    assert 0 not in disk.uses
    assert len(disk.times) == len(cpu_times(window, "alice", 60)) - 1


def test_an_oom_kill_since_the_last_tick_and_a_full_disk_are_events(influx: Counting) -> None:
    write(influx, "alice", range(0, 56, 5), mem_oom_kills=2)
    write(influx, "alice", range(60, 61, 5), mem_oom_kills=3, disk_bytes=30720 * MIB)
    window = UsageWindow(5.0)
    window.refresh(influx, T0 + 60, 60)
    memory = window.usage("alice", "memory", T0 + 60, 2048, T0 + 55)
    assert memory.events == {"oom_kill"}
    assert window.usage("alice", "memory", T0 + 60, 2048, T0 + 60).events == frozenset()
    assert window.usage("alice", "disk", T0 + 60, 30720, T0 + 55).events == {"disk_full"}
    assert window.usage("bob", "cpu", T0 + 60, 1000, T0 + 55).times == ()


def test_a_whole_read_and_tick_by_tick_reads_keep_the_same_samples(influx: Counting) -> None:
    # An OOM kill at 55, a sample whose disk was not read at 65, bob quiet throughout.
    write(influx, "alice", range(0, 51, 5), mem_oom_kills=1)
    write(influx, "alice", range(55, 121, 5), mem_oom_kills=2)
    write(influx, "alice", range(65, 66, 5), mem_oom_kills=2, disk_bytes=None)
    write(influx, "bob", range(0, 121, 5))
    ticking = UsageWindow(5.0)
    for now in range(40, 121, 5):
        ticking.refresh(influx, T0 + now, 60)
        whole = UsageWindow(5.0)  # a scaler's first tick at this time
        whole.refresh(influx, T0 + now, 60)
        for account in ("alice", "bob"):
            for resource, limit in (("cpu", 1000), ("memory", 2048), ("disk", 30720)):
                a, b = (
                    w.usage(account, resource, T0 + now, limit, T0 + 50) for w in (ticking, whole)
                )
                assert (list(a.times), list(a.uses), list(a.limits), a.events) == (
                    list(b.times),
                    list(b.uses),
                    list(b.limits),
                    b.events,
                ), (account, resource, now)
        kill = ticking.usage("alice", "memory", T0 + now, 2048, T0 + 50).events
        # Seen while the samples before it are in the window; gone once they leave it.
        assert kill == ({"oom_kill"} if 55 <= now < 115 else frozenset()), now


def test_an_account_name_that_is_not_one_never_reaches_the_query() -> None:
    with pytest.raises(ValueError, match="not a valid account name"):
        query(Window(T0, 60), ["alice", "a/ OR 1=1"])
