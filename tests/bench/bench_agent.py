"""The usage agent at 500 accounts: CPU per tick and resident memory.

Budget (issue 10): under 1% of a core and 30 MiB RSS on a server with 500 accounts, i.e.
one tick every 5 s must cost under 50 ms of CPU. The tree is a fake cgroup v2 and v1 tree of
real files in a temporary directory (the same files the kernel offers; tmpfs reads are a bit
cheaper than cgroupfs ones). Not measured here: the per-tick `systemctl --failed` and
`btrfs qgroup show` (two processes a tick whatever the account count) and the HTTP write.
Baselines, in the same run: a bare os.scandir walk of the tree that opens nothing (CPU), and
a bare interpreter (RSS; the agent's imports, urllib and ssl mostly, add ~13 MiB to it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scaler.agent import Agent, AgentConfig
from scaler.agent_http import Endpoint
from tests.support.cgroup_tree import v1_tree, v2_tree

ACCOUNTS = 500
INTERVAL_S = 5.0
TICKS = 24
BUSY_SHARE = 0.1  # accounts whose CPU counter moved since the last tick (most sites idle)
RSS_TARGET = 30 * 1024 * 1024


def _names() -> list[str]:
    return [f"a{i:05d}" for i in range(ACCOUNTS)]


def _agent(root: Path) -> Agent:
    endpoint = Endpoint("http://127.0.0.1:9", "bench")
    config = AgentConfig(
        endpoint, "bench", core_mhz=2500, cgroup_root=str(root), disk="off", failed_units=False
    )
    return Agent(config)


def _walk(root: Path) -> int:
    count = 0
    for top, dirs, files in os.walk(root):
        count += len(dirs) + len(files) + len(top)
    return count


def _cpu(action: Callable[[], object], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        action()
    return (time.process_time() - start) / repeat


def _make_busy(root: Path, version: int, names: list[str], usage: int) -> None:
    """CPU use moved for these accounts since the last tick (written outside the timing)."""
    for name in names:
        leaf = f"acct.slice/acct-{name}.slice"
        if version == 2:
            path = root / leaf / "cpu.stat"
            path.write_text(f"usage_usec {usage}\nnr_periods 400\nnr_throttled 30\n")
        else:
            (root / "cpuacct" / leaf / "cpuacct.usage").write_text(f"{usage * 1000}\n")


def tick_cpu(root: Path, version: int) -> float:
    """CPU seconds of one tick (read every account, compose and pack), BUSY_SHARE of them busy."""
    agent = _agent(root)
    names = _names()
    now = time.time_ns()
    agent.buffer.add(agent.collect(now))  # the first tick reads everything: steady state next
    total = 0.0
    for i in range(1, TICKS + 1):
        busy = names[i % 10 :: round(1 / BUSY_SHARE)]
        _make_busy(root, version, busy, 2_000_000 + i * 100_000)
        start = time.process_time()
        agent.seq += 1  # what tick() does, without the heartbeat and the send
        agent.buffer.add(agent.collect(now + i * 5_000_000_000))
        total += time.process_time() - start
    return total / TICKS


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (bigger) parent.
_HWM = "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) * 1024)"
_RSS_BARE = _HWM
_RSS_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.bench.bench_agent import _agent
agent = _agent(Path({root!r}))
now = time.time_ns()
for i in range({ticks}):
    agent.seq += 1
    agent.buffer.add(agent.collect(now + i * 5_000_000_000))
"""


def max_rss(root: Path, ticks: int) -> int:
    """Peak RSS in bytes of a fresh python3 running `ticks` ticks (0: the bare interpreter)."""
    code = _RSS_CHILD.format(repo=str(Path.cwd()), root=str(root), ticks=ticks) + _HWM
    if ticks == 0:
        code = _RSS_BARE
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code],  # -I: no site hooks, as on a server
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout.split()[-1])


def run() -> list[str]:
    out = [
        f"usage agent: one tick over {ACCOUNTS} accounts, {BUSY_SHARE:.0%} busy"
        " (fake cgroup trees, real files)"
    ]
    budget = INTERVAL_S / 100
    with tempfile.TemporaryDirectory() as tmp:
        for version, build in ((2, v2_tree), (1, v1_tree)):
            root = build(Path(tmp) / f"v{version}", _names())
            walk = _cpu(lambda root=root: _walk(root), TICKS)
            tick = tick_cpu(root, version)
            verdict = "ok" if tick < budget else "OVER BUDGET"
            out.append(
                f"cgroup v{version} baseline: os.walk of the tree   {walk * 1000:8.2f} ms CPU"
            )
            out.append(
                f"cgroup v{version} one tick (read+compose+pack) {tick * 1000:8.2f} ms CPU"
                f" = {tick / walk:5.1f} x baseline = {tick / INTERVAL_S:.2%} of a core"
                f" at {INTERVAL_S:g} s (budget 1%) {verdict}"
            )
        root2 = Path(tmp) / "v2"
        bare = max_rss(root2, 0)
        rss = max_rss(root2, 60)  # a few minutes of ticks, buffer filling (InfluxDB away)
        verdict = "ok" if rss < RSS_TARGET else "OVER BUDGET"
        out.append(f"baseline: a bare python3 -I             {bare / 2**20:8.1f} MiB RSS")
        out.append(
            f"agent after 60 ticks (buffer filling)    {rss / 2**20:8.1f} MiB RSS"
            f" = {rss / bare:4.2f} x baseline (budget < 30 MiB) {verdict}"
        )
    return out


if __name__ == "__main__":
    print("\n".join(run()))
