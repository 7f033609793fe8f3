"""The agent's config (root-only file, one clear line per mistake) and one tick's points."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from scaler.agent import Agent, AgentConfig, ConfigError, load_config, main
from scaler.agent_http import Endpoint
from tests.support.cgroup_tree import v2_account, v2_tree

GOOD = """\
[influx]
url = http://127.0.0.1:8086
database = bubblehost
auth = basic
username = agent
password = s3cret

[agent]
server = web1
interval = 5
core_mhz = 2000
cgroup_root = {root}
disk = off
failed_units = no
"""


def _conf(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "agent.conf"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_config_read(tmp_path: Path) -> None:
    config = load_config(str(_conf(tmp_path, GOOD.format(root=tmp_path))))
    assert config.server == "web1" and config.core_mhz == 2000 and config.disk == "off"
    assert config.endpoint.headers() == {"Authorization": "Basic YWdlbnQ6czNjcmV0"}
    assert "s3cret" not in repr(config)


def test_config_others_can_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mode 0600"):
        load_config(str(_conf(tmp_path, GOOD.format(root=tmp_path), mode=0o644)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("auth = basic", "auth = kerberos"), "InfluxDB auth 'kerberos'"),
        (("url = http://127.0.0.1:8086", "url = http://u:p@h:1"), "credentials belong"),
        (("interval = 5", "interval = 0.2"), "interval = 0.2"),
        (("interval = 5", "interval = soon"), "interval = 'soon': not a number"),
        (("disk = off", "disk = xfs"), "disk = 'xfs'"),
        (("[influx]", "[influxdb]"), r"section \[influx\] missing"),
    ],
)
def test_config_mistakes_are_one_clear_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = GOOD.format(root=tmp_path).replace(*change)
    with pytest.raises(ConfigError, match=message):
        load_config(str(_conf(tmp_path, text)))


def test_main_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _conf(tmp_path, GOOD.format(root=tmp_path), mode=0o640)
    assert main(["--config", str(path), "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bubble-agent: config")
    assert "s3cret" not in err


def _agent(root: Path) -> Agent:
    endpoint = Endpoint("http://127.0.0.1:9", "bubblehost", timeout=0.2)
    return Agent(
        AgentConfig(
            endpoint, "web1", core_mhz=2000, cgroup_root=str(root), disk="off", failed_units=False
        )
    )


def test_cpu_mhz_and_share_come_from_the_usage_delta(tmp_path: Path) -> None:
    root = v2_tree(tmp_path / "cg", ["alice"])
    agent = _agent(root)
    first = agent.collect(1_000_000_000_000)
    assert "cpu_mhz" not in first[0]  # no previous sample yet
    assert first[0].startswith("account,account=alice,server=web1 ")
    assert "cpu_limit_mhz=1000i" in first[0]  # 50% of a 2000 MHz core
    # 0.25 s of CPU in 1 s of wall time: a quarter core = 500 MHz = half the quota.
    v2_account(root, "alice", usage_usec=1_250_000)
    second = agent.collect(1_001_000_000_000)
    assert "cpu_mhz=500i" in second[0] and "cpu_quota_share=0.5" in second[0]
    assert second[0].endswith(" 1001000")  # milliseconds
    measurements = sorted({line.split(",")[0] for line in second})
    assert measurements == ["account", "disk", "server"]


def test_a_recreated_slice_gives_no_rate(tmp_path: Path) -> None:
    root = v2_tree(tmp_path / "cg", ["alice"])
    agent = _agent(root)
    agent.collect(1_000_000_000_000)
    v2_account(root, "alice", usage_usec=10)
    assert "cpu_mhz" not in agent.collect(1_005_000_000_000)[0]


def test_tick_buffers_while_influx_is_away_and_reports_a_heartbeat(tmp_path: Path) -> None:
    root = v2_tree(tmp_path / "cg", ["alice", "bob"])
    agent = _agent(root)
    agent.tick()
    assert agent.buffer.points >= 4  # 2 accounts, server, disk, agent
    assert agent._influx_down
    agent.backoff.succeeded()
    agent.tick()
    assert agent.seq == 2
    lines = [
        line
        for chunk in agent.buffer._chunks
        for line in gzip.decompress(chunk.body).decode().splitlines()
    ]
    beats = [line for line in lines if line.startswith("agent,server=web1 ")]
    assert len(beats) == 2
    assert (
        "seq=2i" in beats[1] and "buffered_points=" in beats[1] and "dropped_points=0i" in beats[1]
    )


def test_idle_accounts_carry_what_cannot_move_and_full_reads_come_round(tmp_path: Path) -> None:
    root = v2_tree(tmp_path / "cg", [])
    v2_account(root, "alice", tasks=7, quota="50000 100000")
    agent = _agent(root)
    agent.seq = 1
    assert agent.read_accounts()["alice"]["tasks"] == 7  # first sight: every file
    # Same CPU counter (nothing ran): tasks cannot have moved and are carried; a busy
    # account is read again; every slow_every ticks the whole account is read.
    v2_account(root, "alice", tasks=9, quota="80000 100000")
    seen = []
    for seq in range(2, 2 + agent.config.slow_every):
        agent.seq = seq
        sample = agent.read_accounts()["alice"]
        seen.append((sample["tasks"], sample["cpu_quota_usec"]))
    assert seen[0] == (7, 50000) and seen[-1] == (9, 80000)
    assert sorted(set(seen)) == [(7, 50000), (9, 80000)]
    v2_account(root, "alice", usage_usec=2_000_000, tasks=11)
    agent.seq += 1
    assert agent.read_accounts()["alice"]["tasks"] == 11  # CPU moved: read at once


def test_a_busy_account_reports_a_new_cpu_or_memory_limit_at_the_next_tick(tmp_path: Path) -> None:
    # The scaler holds an account until its samples show the limit it raised: a busy one
    # must not wait for its full read to come round (slow_every ticks).
    root = v2_tree(tmp_path / "cg", [])
    v2_account(root, "alice", quota="50000 100000", memory_max=str(256 << 20))
    agent = _agent(root)
    agent.seq = 1
    agent.read_accounts()
    v2_account(root, "alice", usage_usec=2_000_000, quota="100000 100000",
               memory_max=str(384 << 20))  # fmt: skip
    agent.seq = 2 if zlib.crc32(b"alice") % agent.config.slow_every != 2 else 3
    sample = agent.read_accounts()["alice"]
    assert (sample["cpu_quota_usec"], sample["mem_max_bytes"]) == (100000, 384 << 20)
    assert sample["tasks"] == 7
