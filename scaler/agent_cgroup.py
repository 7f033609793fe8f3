"""Per-account usage from the cgroup files of each `acct-NAME.slice`, v2 or v1.

systemd nests `acct-NAME.slice` under `acct.slice`. cgroup v2 (Debian 12) has one tree;
cgroup v1 (the lab's nspawn servers) has one tree per controller. `read_accounts` is the one
entry point; each version has its own reader, and both return the same keys (absent when the
kernel does not report it or no limit is set):

  cpu_usage_usec  cpu_periods  cpu_throttled_periods  cpu_throttled_usec
  cpu_quota_usec  cpu_period_usec                       (only when CPUQuota is set)
  mem_bytes  mem_max_bytes  mem_high_bytes               (limits only when set)
  mem_max_events (times the limit was hit)  mem_oom_events  mem_oom_kills
  mem_pressure_some_usec  mem_pressure_full_usec  mem_pressure_some_avg10 (float, v2 only)
  tasks  tasks_max  io_read_bytes  io_write_bytes

Files are read with plain os.open/os.read: at 500 accounts and ~10 files each, every
microsecond per file is half a millisecond per tick. Stdlib only: copied to every server.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PARENT = "acct.slice"
_SLICE_RE = re.compile(r"acct-([a-z][a-z0-9]{0,30})\.slice")
# v1 reports "no limit" as a page-aligned LONG_MAX; anything this large is no limit.
_V1_UNLIMITED = 1 << 62

Sample = dict[str, int | float]


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        return os.read(fd, 16384)
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(path: str) -> int | None:
    raw = _read(path)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _keyed(raw: bytes | None) -> dict[bytes, int]:
    """`key value` lines (cpu.stat, memory.events, memory.oom_control) -> {key: value}."""
    out: dict[bytes, int] = {}
    if raw:
        for line in raw.split(b"\n"):
            key, _, value = line.partition(b" ")
            if value:
                try:
                    out[key] = int(value)
                except ValueError:
                    continue
    return out


def detect_version(root: str) -> int:
    """2 for a pure unified tree, 1 when per-controller v1 hierarchies are mounted (hybrid too)."""
    base = Path(root)
    if (base / "cpu").is_dir() or (base / "cpuacct").is_dir():
        return 1
    if (base / "cgroup.controllers").exists():
        return 2
    raise ValueError(f"cgroup root {root}: neither a cgroup v2 nor a v1 hierarchy")


def account_names(parent: str) -> list[str]:
    """Account names from the `acct-NAME.slice` directories under `parent`."""
    try:
        entries = os.scandir(parent)
    except OSError:
        return []
    with entries:
        names = []
        for entry in entries:
            match = _SLICE_RE.fullmatch(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                names.append(match.group(1))
    return sorted(names)


def read_accounts(root: str, version: int) -> dict[str, Sample]:
    """Every account slice on this server -> its sample (see the module's key list)."""
    if version == 2:
        return _read_v2(root)
    if version == 1:
        return _read_v1(root)
    raise ValueError(f"cgroup version {version}: expected 1 or 2")


def _pressure(raw: bytes | None, sample: Sample) -> None:
    # "some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull avg10=... total=45"
    if not raw:
        return
    for line in raw.split(b"\n"):
        parts = line.split()
        if len(parts) < 5:
            continue
        kind = parts[0].decode()
        if kind not in ("some", "full"):
            continue
        for part in parts[1:]:
            key, _, value = part.partition(b"=")
            if key == b"total":
                sample[f"mem_pressure_{kind}_usec"] = int(value)
            elif key == b"avg10" and kind == "some":
                sample["mem_pressure_some_avg10"] = float(value)


def _read_v2(root: str) -> dict[str, Sample]:
    parent = f"{root}/{PARENT}"
    out: dict[str, Sample] = {}
    for name in account_names(parent):
        base = f"{parent}/acct-{name}.slice/"
        sample: Sample = {}
        cpu = _keyed(_read(base + "cpu.stat"))
        for src, dst in (
            (b"usage_usec", "cpu_usage_usec"),
            (b"nr_periods", "cpu_periods"),
            (b"nr_throttled", "cpu_throttled_periods"),
            (b"throttled_usec", "cpu_throttled_usec"),
        ):
            if src in cpu:
                sample[dst] = cpu[src]
        quota = (_read(base + "cpu.max") or b"").split()
        if len(quota) == 2 and quota[0] != b"max":
            sample["cpu_quota_usec"] = int(quota[0])
            sample["cpu_period_usec"] = int(quota[1])
        for fname, key in (
            ("memory.current", "mem_bytes"),
            ("memory.max", "mem_max_bytes"),
            ("memory.high", "mem_high_bytes"),
            ("pids.current", "tasks"),
            ("pids.max", "tasks_max"),
        ):
            value = _int(base + fname)  # "max" (no limit) does not parse: the key stays absent
            if value is not None:
                sample[key] = value
        events = _keyed(_read(base + "memory.events"))
        for src, dst in ((b"max", "mem_max_events"), (b"oom", "mem_oom_events")):
            if src in events:
                sample[dst] = events[src]
        if b"oom_kill" in events:
            sample["mem_oom_kills"] = events[b"oom_kill"]
        _pressure(_read(base + "memory.pressure"), sample)
        io = _read(base + "io.stat")
        if io is not None:
            rbytes = wbytes = 0
            for part in io.split():
                if part.startswith(b"rbytes="):
                    rbytes += int(part[7:])
                elif part.startswith(b"wbytes="):
                    wbytes += int(part[7:])
            sample["io_read_bytes"] = rbytes
            sample["io_write_bytes"] = wbytes
        out[name] = sample
    return out


def _v1_dir(root: str, controller: str) -> str:
    return f"{root}/{controller}/{PARENT}/"


def _read_v1(root: str) -> dict[str, Sample]:
    # The name=systemd hierarchy holds every unit whatever accounting is on: list from it.
    names = account_names(f"{root}/systemd/{PARENT}")
    cpu_dir, acct_dir = _v1_dir(root, "cpu"), _v1_dir(root, "cpuacct")
    mem_dir, pids_dir, blkio_dir = (
        _v1_dir(root, "memory"),
        _v1_dir(root, "pids"),
        _v1_dir(root, "blkio"),
    )
    out: dict[str, Sample] = {}
    for name in names:
        leaf = f"acct-{name}.slice/"
        sample: Sample = {}
        usage_ns = _int(acct_dir + leaf + "cpuacct.usage")
        if usage_ns is not None:
            sample["cpu_usage_usec"] = usage_ns // 1000
        cpu = _keyed(_read(cpu_dir + leaf + "cpu.stat"))
        if b"nr_periods" in cpu:
            sample["cpu_periods"] = cpu[b"nr_periods"]
        if b"nr_throttled" in cpu:
            sample["cpu_throttled_periods"] = cpu[b"nr_throttled"]
        if b"throttled_time" in cpu:
            sample["cpu_throttled_usec"] = cpu[b"throttled_time"] // 1000
        quota = _int(cpu_dir + leaf + "cpu.cfs_quota_us")
        if quota is not None and quota > 0:
            period = _int(cpu_dir + leaf + "cpu.cfs_period_us")
            if period:
                sample["cpu_quota_usec"] = quota
                sample["cpu_period_usec"] = period
        usage = _int(mem_dir + leaf + "memory.usage_in_bytes")
        if usage is not None:
            sample["mem_bytes"] = usage
        limit = _int(mem_dir + leaf + "memory.limit_in_bytes")
        if limit is not None and limit < _V1_UNLIMITED:
            sample["mem_max_bytes"] = limit
        failcnt = _int(mem_dir + leaf + "memory.failcnt")
        if failcnt is not None:
            sample["mem_max_events"] = failcnt
        oom = _keyed(_read(mem_dir + leaf + "memory.oom_control"))
        if b"oom_kill" in oom:
            sample["mem_oom_kills"] = oom[b"oom_kill"]
        tasks = _int(pids_dir + leaf + "pids.current")
        if tasks is not None:
            sample["tasks"] = tasks
        tasks_max = _int(pids_dir + leaf + "pids.max")
        if tasks_max is not None:
            sample["tasks_max"] = tasks_max
        io = _read(blkio_dir + leaf + "blkio.throttle.io_service_bytes")
        if io is not None:
            rbytes = wbytes = 0
            for line in io.split(b"\n"):
                parts = line.split()
                if len(parts) == 3 and parts[1] == b"Read":
                    rbytes += int(parts[2])
                elif len(parts) == 3 and parts[1] == b"Write":
                    wbytes += int(parts[2])
            sample["io_read_bytes"] = rbytes
            sample["io_write_bytes"] = wbytes
        out[name] = sample
    return out
