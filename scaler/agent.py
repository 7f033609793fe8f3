"""The usage agent: every few seconds, each account's usage and the server's health to InfluxDB.

Runs on every server as `python3 -m scaler.agent --config /etc/bubblehost/agent.conf`
(roles/usage_agent). Stdlib only. Points written (tag `server` on all, millisecond stamps):

  account,account=NAME  cgroup figures (scaler/agent_cgroup.py), disk_bytes/disk_max_bytes,
                        cpu_mhz (used since the last tick), cpu_limit_mhz, cpu_quota_share
  server                load1/5/15, procs, mem_total_bytes, mem_available_bytes,
                        failed_units, failed_unit_names
  disk,path=P           free_bytes, total_bytes, free_inodes
  agent                 the heartbeat: seq, accounts, buffered_points, dropped_points,
                        rejected_points, tick_usec, cpu_usec, rss_bytes

Counters are cumulative as the kernel reports them (InfluxQL's non_negative_difference turns
them into rates); every field keeps one type forever. While InfluxDB is away, points wait in
a bounded buffer (oldest dropped first, counted in agent.dropped_points).
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import resource
import signal
import socket
import stat
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from scaler.agent_buffer import Backoff, PointBuffer
from scaler.agent_cgroup import (
    BUSY,
    BUSY_KEYS,
    FULL,
    FULL_KEYS,
    IDLE,
    Sample,
    detect_version,
    read_accounts,
)
from scaler.agent_host import NAME_RE, BtrfsDisk, disk_free, failed_units, load, memory
from scaler.agent_http import Endpoint
from scaler.agent_lineproto import FieldValue, point

log = logging.getLogger("bubble-agent")


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class AgentConfig:
    endpoint: Endpoint
    server: str
    interval: float = 5.0
    core_mhz: int = 0  # 0: from /proc/cpuinfo
    cgroup_root: str = "/sys/fs/cgroup"
    cgroup_version: int = 0  # 0: detect
    srv: str = "/srv"
    disk: str = "btrfs"  # btrfs | off
    failed_units: bool = True
    disk_paths: tuple[str, ...] = ("/", "/srv")
    buffer_max_bytes: int = 8 * 1024 * 1024
    retry_max_seconds: float = 60.0
    # Every file of 1/slow_every of the accounts each tick (agent_cgroup's FULL depth), so
    # limits, pressure and IO bytes are at most slow_every ticks old (new accounts: at once).
    slow_every: int = 6
    proc: str = "/proc"


def _number(section: configparser.SectionProxy, key: str, default: float) -> float:
    raw = section.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"[{section.name}] {key} = {raw!r}: not a number") from None
    if value < 0:
        raise ConfigError(f"[{section.name}] {key} = {raw!r}: must not be negative")
    return value


def load_config(path: str) -> AgentConfig:
    """Read the agent's config; refuse a file others could read (it holds InfluxDB secrets)."""
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise ConfigError(f"config {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or st.st_uid != os.geteuid():
        raise ConfigError(
            f"config {path}: must belong to uid {os.geteuid()} with mode 0600 (it holds secrets)"
        )
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    for name in ("influx", "agent"):
        if not parser.has_section(name):
            raise ConfigError(f"config {path}: section [{name}] missing")
    influx, agent = parser["influx"], parser["agent"]
    try:
        endpoint = Endpoint(
            url=influx.get("url", ""),
            database=influx.get("database", "bubblehost"),
            auth=influx.get("auth", "none"),
            username=influx.get("username", ""),
            password=influx.get("password", ""),
            token=influx.get("token", ""),
            timeout=_number(influx, "timeout", 3.0),
        )
    except ValueError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    server = agent.get("server", socket.gethostname().split(".")[0])
    if not server:
        raise ConfigError(f"config {path}: [agent] server is empty")
    version = agent.get("cgroup_version", "auto")
    if version not in ("auto", "1", "2"):
        raise ConfigError(f"config {path}: [agent] cgroup_version = {version!r}: auto, 1 or 2")
    disk = agent.get("disk", "btrfs")
    if disk not in ("btrfs", "off"):
        raise ConfigError(f"config {path}: [agent] disk = {disk!r}: btrfs or off")
    interval = _number(agent, "interval", 5.0)
    if interval < 1:
        raise ConfigError(f"config {path}: [agent] interval = {interval:g}: at least 1 second")
    try:
        failed = agent.getboolean("failed_units", True)
    except ValueError:
        raise ConfigError(f"config {path}: [agent] failed_units: yes or no") from None
    paths = tuple(p.strip() for p in agent.get("disk_paths", "/, /srv").split(",") if p.strip())
    return AgentConfig(
        endpoint=endpoint,
        server=server,
        interval=interval,
        core_mhz=int(_number(agent, "core_mhz", 0)),
        cgroup_root=agent.get("cgroup_root", "/sys/fs/cgroup"),
        cgroup_version=0 if version == "auto" else int(version),
        srv=agent.get("srv", "/srv"),
        disk=disk,
        failed_units=failed,
        disk_paths=paths,
        buffer_max_bytes=int(_number(agent, "buffer_max_bytes", 8 * 1024 * 1024)) or 1,
        retry_max_seconds=_number(agent, "retry_max_seconds", 60.0),
        slow_every=max(1, int(_number(agent, "slow_every", 6))),
        proc=agent.get("proc", "/proc"),
    )


def cpuinfo_mhz(proc: str = "/proc") -> int:
    """The first core's clock from /proc/cpuinfo (a fallback: the catalog's figure is better)."""
    try:
        with Path(proc, "cpuinfo").open("rb") as fh:
            for line in fh:
                if line.startswith(b"cpu MHz"):
                    return round(float(line.split(b":")[1]))
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rss_bytes(proc: str) -> int:
    try:
        with Path(proc, "self", "statm").open("rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.version = config.cgroup_version or detect_version(config.cgroup_root)
        self.core_mhz = config.core_mhz or cpuinfo_mhz(config.proc)
        self.buffer = PointBuffer(config.buffer_max_bytes)
        self.backoff = Backoff(config.interval, max(config.interval, config.retry_max_seconds))
        self.disk = BtrfsDisk(config.srv) if config.disk == "btrfs" else None
        self.seq = 0
        self._prev_cpu: dict[str, tuple[int, int]] = {}  # name -> (time ns, usage usec)
        self._last: dict[str, Sample] = {}  # name -> its sample of the last tick
        self._accounts = 0
        self._influx_down = False

    def account_fields(self, name: str, sample: Sample, now_ns: int) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = dict(sample)
        usage = sample.get("cpu_usage_usec")
        quota, period = sample.get("cpu_quota_usec"), sample.get("cpu_period_usec")
        limit_cores = quota / period if quota and period else None
        if limit_cores is not None and self.core_mhz:
            fields["cpu_limit_mhz"] = round(limit_cores * self.core_mhz)
        if isinstance(usage, int):
            prev = self._prev_cpu.get(name)
            self._prev_cpu[name] = (now_ns, usage)
            # A counter that went back means the slice was recreated: no rate this tick.
            if prev and now_ns > prev[0] and usage >= prev[1]:
                cores = (usage - prev[1]) * 1000 / (now_ns - prev[0])
                if self.core_mhz:
                    fields["cpu_mhz"] = round(cores * self.core_mhz)
                if limit_cores:
                    fields["cpu_quota_share"] = round(cores / limit_cores, 4)
        return fields

    def read_accounts(self) -> dict[str, Sample]:
        """Each account read as deep as needed (agent_cgroup); what was not read is carried."""
        every = self.config.slow_every
        turn = self.seq % every
        last = self._last
        depths: dict[str, int] = {}

        def depth(name: str, usage: int | None) -> int:
            before = last.get(name)
            if before is None or zlib.crc32(name.encode()) % every == turn:
                level = FULL
            elif usage is None or before.get("cpu_usage_usec") != usage:
                level = BUSY
            else:
                level = IDLE
            depths[name] = level
            return level

        accounts = read_accounts(self.config.cgroup_root, self.version, depth)
        for name, sample in accounts.items():
            level = depths.get(name, FULL)
            if level < FULL:
                carried = FULL_KEYS if level == BUSY else FULL_KEYS | BUSY_KEYS
                before = last[name]
                for key in carried:
                    if key in before:
                        sample[key] = before[key]
        self._last = {name: dict(sample) for name, sample in accounts.items()}
        return accounts

    def collect(self, now_ns: int) -> list[str]:
        """One tick's points (reads only; nothing is sent)."""
        cfg = self.config
        tags = {"server": cfg.server}
        ts = now_ns // 1_000_000
        lines: list[str] = []
        accounts = self.read_accounts()
        disks = self.disk.read() if self.disk else {}
        for name, sample in accounts.items():
            if not NAME_RE.fullmatch(name):
                continue
            fields = self.account_fields(name, sample, now_ns)
            fields.update(disks.get(name, {}))
            if fields:
                lines.append(point("account", {**tags, "account": name}, fields, ts))
        for gone in self._prev_cpu.keys() - accounts.keys():
            del self._prev_cpu[gone]
        server: dict[str, FieldValue] = {}
        server.update(load(cfg.proc))
        server.update(memory(cfg.proc))
        if cfg.failed_units:
            failed = failed_units()
            if failed is not None:
                server["failed_units"] = len(failed)
                server["failed_unit_names"] = ",".join(failed)[:1000]
        lines.append(point("server", tags, server, ts))
        for path in cfg.disk_paths:
            free = disk_free(path)
            if free is not None:
                lines.append(point("disk", {**tags, "path": path}, dict(free), ts))
        self._accounts = len(accounts)
        return lines

    def tick(self, now_ns: int | None = None) -> None:
        """Collect, queue, and send what InfluxDB will take; never raises for InfluxDB's sake."""
        started = time.process_time_ns()
        now_ns = time.time_ns() if now_ns is None else now_ns
        self.seq += 1
        lines = self.collect(now_ns)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        heartbeat: dict[str, FieldValue] = {
            "seq": self.seq,
            "accounts": self._accounts,
            "cgroup_version": self.version,
            "buffered_points": self.buffer.points,
            "dropped_points": self.buffer.dropped,
            "rejected_points": self.buffer.rejected,
            "tick_usec": (time.process_time_ns() - started) // 1000,
            "cpu_usec": round((usage.ru_utime + usage.ru_stime) * 1_000_000),
            "rss_bytes": _rss_bytes(self.config.proc),
        }
        lines.append(point("agent", {"server": self.config.server}, heartbeat, now_ns // 1_000_000))
        self.buffer.add(lines)
        self.send()

    def send(self) -> None:
        if not self.backoff.ready():
            return
        endpoint = self.config.endpoint
        result = self.buffer.flush(lambda body: endpoint.write(body, "ms", gzipped=True))
        if result.rejected:
            log.warning("InfluxDB rejected %d points: %s", result.rejected, result.error)
        if len(self.buffer):
            self.backoff.failed()
            if not self._influx_down:
                log.warning("InfluxDB away, buffering: %s", result.error)
            self._influx_down = True
        else:
            self.backoff.succeeded()
            if self._influx_down:
                log.info(
                    "InfluxDB back: %d points delivered, %d dropped so far",
                    result.sent,
                    self.buffer.dropped,
                )
            self._influx_down = False


def run(agent: Agent, once: bool = False) -> None:
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_at = time.monotonic()
    while not stopping:
        try:
            agent.tick()
        except Exception:  # one bad tick must not stop the reporting; the next one retries
            log.exception("tick failed")
        if once:
            return
        next_at += agent.config.interval
        delay = next_at - time.monotonic()
        if delay < 0:  # fell behind (suspended, overloaded): skip, never burst
            next_at, delay = time.monotonic(), 0
        while delay > 0 and not stopping:
            time.sleep(min(delay, 0.5))
            delay = next_at - time.monotonic()
    agent.send()  # one last try for what is buffered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubble-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/bubblehost/agent.conf")
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        agent = Agent(load_config(args.config))
    except (ConfigError, ValueError) as exc:
        print(f"bubble-agent: {exc}", file=sys.stderr)
        return 2
    run(agent, once=args.once)
    return 0


if __name__ == "__main__":
    sys.exit(main())
