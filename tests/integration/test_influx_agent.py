"""The agent and the InfluxDB client against a real influxd (1.x, basic auth) on loopback."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.agent import Agent, AgentConfig
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.cgroup_tree import v2_account, v2_tree
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, Influxd, running_influxd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


def _endpoint(server: Influxd, database: str, password: str = ADMIN_PASSWORD) -> Endpoint:
    return Endpoint(server.url, database, "basic", ADMIN, password, timeout=2.0)


def _client(server: Influxd, database: str) -> InfluxClient:
    client = InfluxClient(_endpoint(server, database))
    client.ensure_retention()
    return client


def _agent(server: Influxd, database: str, cgroups: Path, password: str = ADMIN_PASSWORD) -> Agent:
    config = AgentConfig(
        _endpoint(server, database, password),
        "web1",
        core_mhz=2000,
        cgroup_root=str(cgroups),
        disk="off",
        failed_units=False,
        disk_paths=("/",),  # 4 points a tick: account, server, disk, agent
    )
    return Agent(config)


def _since(client: InfluxClient, select: str, stamp_ns: int) -> list[dict[str, object]]:
    """`SELECT <select> WHERE time >= stamp`, the stamp cut to the agent's milliseconds."""
    return client.query(f"SELECT {select} WHERE time >= {stamp_ns // 1_000_000}ms")


def test_ensure_retention_twice_is_the_same(influxd: Influxd) -> None:
    client = InfluxClient(_endpoint(influxd, "retention"))
    first = client.ensure_retention()
    assert "database retention" in first and "continuous query cq_hourly" in first

    def shown() -> tuple[object, ...]:
        return (
            client.query("SHOW RETENTION POLICIES"),
            client.query("SHOW CONTINUOUS QUERIES", database=""),
        )

    before = shown()
    assert client.ensure_retention() == []
    assert shown() == before
    policies = {row["name"]: row for row in before[0]}  # type: ignore[attr-defined]
    assert policies["raw"]["duration"] == "48h0m0s" and policies["raw"]["default"] is True
    assert policies["five_min"]["duration"] == "720h0m0s"
    assert policies["hourly"]["duration"] == "9504h0m0s"
    # Someone shortened a policy by hand: the next run puts it back, in place.
    client.execute('ALTER RETENTION POLICY "five_min" ON "retention" DURATION 7d')
    assert client.ensure_retention() == ["retention policy five_min 30d (altered)"]
    assert shown() == before


def test_agent_writes_and_the_client_reads_back(influxd: Influxd, tmp_path: Path) -> None:
    client = _client(influxd, "readback")
    cgroups = v2_tree(tmp_path, ["alice", "bob"])
    agent = _agent(influxd, "readback", cgroups)
    now = time.time_ns()
    agent.tick(now)
    v2_account(cgroups, "alice", usage_usec=1_000_000 + 5_000_000)  # 1 core for 5 s
    agent.tick(now + 5_000_000_000)
    assert agent.buffer.points == 0 and not agent._influx_down
    rows = client.query(
        "SELECT cpu_mhz, cpu_limit_mhz, cpu_quota_share, mem_bytes, tasks FROM account "
        "WHERE account = 'alice' AND time > now() - 1h"
    )
    assert [(r["cpu_mhz"], r["cpu_limit_mhz"], r["cpu_quota_share"]) for r in rows] == [
        (None, 1000, None),
        (2000, 1000, 2.0),
    ]
    assert rows[1]["mem_bytes"] == 64 << 20 and rows[1]["tasks"] == 7
    assert rows[1]["time"] == (now + 5_000_000_000) // 1_000_000
    by_account = client.query(
        "SELECT last(mem_bytes) FROM account WHERE time > now() - 1h GROUP BY account"
    )
    assert sorted(r["account"] for r in by_account) == ["alice", "bob"]
    beat = client.query("SELECT last(seq), dropped_points FROM agent WHERE server = 'web1'")
    assert beat[0]["last"] == 2 and beat[0]["dropped_points"] == 0


def test_outage_buffered_points_arrive_none_invented(influxd: Influxd, tmp_path: Path) -> None:
    client = _client(influxd, "outage")
    cgroups = v2_tree(tmp_path, ["alice"])
    agent = _agent(influxd, "outage", cgroups)
    # Whole milliseconds: the agent writes at ms precision.
    start = (time.time_ns() - 60_000_000_000) // 1_000_000 * 1_000_000
    stamps = [start + i * 5_000_000_000 for i in range(8)]
    agent.tick(stamps[0])
    influxd.stop()
    try:
        for stamp in stamps[1:7]:
            agent.backoff.succeeded()  # try every tick here; the backoff has its own test
            agent.tick(stamp)
        assert agent._influx_down and agent.buffer.points == 6 * 4
    finally:
        influxd.start()
    agent.backoff.succeeded()
    agent.tick(stamps[7])
    assert agent.buffer.points == 0 and not agent._influx_down
    beats = _since(client, "seq FROM agent", stamps[0])
    assert [r["seq"] for r in beats] == list(range(1, 9))
    assert [r["time"] for r in beats] == [s // 1_000_000 for s in stamps]
    count = _since(client, "count(mem_bytes) FROM account", stamps[0])
    assert count[0]["count"] == 8
    assert beats[-1]["seq"] == 8
    dropped = _since(client, "max(dropped_points) FROM agent", stamps[0])
    assert dropped[0]["max"] == 0


def test_wrong_password_keeps_the_points_until_fixed(influxd: Influxd, tmp_path: Path) -> None:
    client = _client(influxd, "creds")
    agent = _agent(influxd, "creds", v2_tree(tmp_path, ["alice"]), password="wrong")
    now = time.time_ns()
    agent.tick(now)
    assert agent.buffer.points == 4 and agent.buffer.rejected == 0
    agent.config = dataclasses.replace(agent.config, endpoint=_endpoint(influxd, "creds"))
    agent.backoff.succeeded()
    agent.tick(now + 5_000_000_000)
    assert agent.buffer.points == 0
    assert client.query("SELECT count(seq) FROM agent")[0]["count"] == 2


def test_long_outage_drops_oldest_and_reports_the_count(influxd: Influxd, tmp_path: Path) -> None:
    client = _client(influxd, "longoutage")
    agent = _agent(influxd, "longoutage", v2_tree(tmp_path, ["alice"]))
    start = (time.time_ns() - 120_000_000_000) // 1_000_000 * 1_000_000
    stamps = [start + i * 5_000_000_000 for i in range(12)]
    influxd.stop()
    try:
        agent.tick(stamps[0])
        agent.buffer.max_bytes = agent.buffer.size_bytes * 3 + agent.buffer.size_bytes // 2
        for stamp in stamps[1:11]:
            agent.backoff.succeeded()
            agent.tick(stamp)
        assert agent.buffer.dropped == 8 * 4  # 11 ticks, room for 3
    finally:
        influxd.start()
    agent.backoff.succeeded()
    agent.tick(stamps[11])
    beats = _since(client, "seq, dropped_points FROM agent", stamps[0])
    # The newest survived, the oldest went, and every point is either stored or counted.
    seqs = [r["seq"] for r in beats]
    assert seqs == list(range(13 - len(seqs), 13)) and len(seqs) >= 3
    assert agent.buffer.dropped == (12 - len(seqs)) * 4
    # Each heartbeat carries the count as it stood when it was stamped.
    assert beats[-1]["dropped_points"] >= 32


def test_the_agent_process_runs_from_its_config_file(influxd: Influxd, tmp_path: Path) -> None:
    client = _client(influxd, "process")
    cgroups = v2_tree(tmp_path / "cg", ["alice"])
    conf = tmp_path / "agent.conf"
    conf.touch(mode=0o600)
    conf.write_text(
        f"[influx]\nurl = {influxd.url}\ndatabase = process\nauth = basic\n"
        f"username = {ADMIN}\npassword = {ADMIN_PASSWORD}\n"
        f"[agent]\nserver = web9\ncore_mhz = 2000\ncgroup_root = {cgroups}\n"
        "disk = off\nfailed_units = no\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "scaler.agent", "--config", str(conf), "--once"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert ADMIN_PASSWORD not in proc.stderr + proc.stdout
    rows = client.query("SELECT mem_bytes FROM account WHERE server = 'web9'")
    assert [r["mem_bytes"] for r in rows] == [64 << 20]
