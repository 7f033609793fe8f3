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

A file read costs ~10 us on a VM: at 500 accounts each file is 5 ms a tick. So each account
is read to a depth the caller's `depth(name, cpu_usage_usec)` picks after the CPU counters:
  IDLE  CPU counters and memory use only. Nothing ran in the slice since the last tick, so
        tasks, limit hits and OOM kills cannot have moved (each needs a task to run);
  BUSY  also tasks, memory events (limit hits, OOM kills) and the CPU and memory limits: the
        scaler decides a busy account from samples read at the limit in force, so a limit
        it just raised must be seen at the next tick, not when a full read comes round;
  FULL  also the other limits, pressure and IO bytes (spread over several ticks).
The caller carries the keys it did not read from its last sample. Stdlib only: copied to
every server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

PARENT = "acct.slice"
_SLICE_RE = re.compile(r"acct-([a-z][a-z0-9]{0,30})\.slice")
# v1 reports "no limit" as a page-aligned LONG_MAX; anything this large is no limit.
_V1_UNLIMITED = 1 << 62

Sample = dict[str, int | float]
IDLE, BUSY, FULL = 0, 1, 2
Depth = Callable[[str, "int | None"], int]
# Keys read at BUSY and FULL only, and at FULL only: the caller carries them otherwise.
BUSY_KEYS = frozenset(
    {
        "tasks",
        "mem_max_events",
        "mem_oom_events",
        "mem_oom_kills",
        "cpu_quota_usec",
        "cpu_period_usec",
        "mem_max_bytes",
    }
)
FULL_KEYS = frozenset(
    {
        "mem_high_bytes",
        "tasks_max",
        "mem_pressure_some_usec",
        "mem_pressure_full_usec",
        "mem_pressure_some_avg10",
        "io_read_bytes",
        "io_write_bytes",
    }
)


def full(_name: str, _usage: int | None) -> int:
    return FULL


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


def _keyed(raw: bytes | None) -> dict[bytes, bytes]:
    """`key value` lines (cpu.stat, memory.events, memory.oom_control) -> {key: value}."""
    if not raw:
        return {}
    words = raw.split()
    return dict(zip(words[::2], words[1::2], strict=False))


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


def read_accounts(root: str, version: int, depth: Depth = full) -> dict[str, Sample]:
    """Every account slice on this server -> its sample (see the module's key list)."""
    if version == 2:
        return _read_v2(root, depth)
    if version == 1:
        return _read_v1(root, depth)
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


_V2_CPU = (
    (b"usage_usec", "cpu_usage_usec"),
    (b"nr_periods", "cpu_periods"),
    (b"nr_throttled", "cpu_throttled_periods"),
    (b"throttled_usec", "cpu_throttled_usec"),
)
_V2_EVENTS = (
    (b"max", "mem_max_events"),
    (b"oom", "mem_oom_events"),
    (b"oom_kill", "mem_oom_kills"),
)


def _v2_cpu(base: str, sample: Sample) -> None:
    cpu = _keyed(_read(base + "cpu.stat"))
    for src, dst in _V2_CPU:
        if src in cpu:
            sample[dst] = int(cpu[src])
    value = _int(base + "memory.current")
    if value is not None:
        sample["mem_bytes"] = value


def _v2_busy(base: str, sample: Sample) -> None:
    value = _int(base + "pids.current")
    if value is not None:
        sample["tasks"] = value
    events = _keyed(_read(base + "memory.events"))
    for src, dst in _V2_EVENTS:
        if src in events:
            sample[dst] = int(events[src])
    quota = (_read(base + "cpu.max") or b"").split()
    if len(quota) == 2 and quota[0] != b"max":
        sample["cpu_quota_usec"] = int(quota[0])
        sample["cpu_period_usec"] = int(quota[1])
    value = _int(base + "memory.max")  # "max" (no limit) does not parse: the key stays absent
    if value is not None:
        sample["mem_max_bytes"] = value


def _v2_slow(base: str, sample: Sample) -> None:
    for fname, key in (
        ("memory.high", "mem_high_bytes"),
        ("pids.max", "tasks_max"),
    ):
        value = _int(base + fname)  # "max" (no limit) does not parse: the key stays absent
        if value is not None:
            sample[key] = value
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


def _read_v2(root: str, depth: Depth) -> dict[str, Sample]:
    parent = f"{root}/{PARENT}"
    out: dict[str, Sample] = {}
    for name in account_names(parent):
        base = f"{parent}/acct-{name}.slice/"
        sample: Sample = {}
        _v2_cpu(base, sample)
        level = depth(name, sample.get("cpu_usage_usec"))  # type: ignore[arg-type]
        if level >= BUSY:
            _v2_busy(base, sample)
        if level >= FULL:
            _v2_slow(base, sample)
        out[name] = sample
    return out


def _v1_dir(root: str, controller: str) -> str:
    return f"{root}/{controller}/{PARENT}/"


class _V1:
    def __init__(self, root: str) -> None:
        self.cpu, self.acct = _v1_dir(root, "cpu"), _v1_dir(root, "cpuacct")
        self.mem, self.pids = _v1_dir(root, "memory"), _v1_dir(root, "pids")
        self.blkio = _v1_dir(root, "blkio")
        # Hybrid: the cgroup2 tree ("unified") keeps usage_usec for every unit, also where
        # cpuacct is mounted apart from cpu and systemd makes no unit groups in it (the lab).
        self.unified = _v1_dir(root, "unified")

    def cpu_memory(self, leaf: str, sample: Sample) -> None:
        usage_ns = _int(self.acct + leaf + "cpuacct.usage")
        if usage_ns is not None:
            sample["cpu_usage_usec"] = usage_ns // 1000
        else:
            unified = _keyed(_read(self.unified + leaf + "cpu.stat"))
            if b"usage_usec" in unified:
                sample["cpu_usage_usec"] = int(unified[b"usage_usec"])
        cpu = _keyed(_read(self.cpu + leaf + "cpu.stat"))
        if b"nr_periods" in cpu:
            sample["cpu_periods"] = int(cpu[b"nr_periods"])
        if b"nr_throttled" in cpu:
            sample["cpu_throttled_periods"] = int(cpu[b"nr_throttled"])
        if b"throttled_time" in cpu:
            sample["cpu_throttled_usec"] = int(cpu[b"throttled_time"]) // 1000
        usage = _int(self.mem + leaf + "memory.usage_in_bytes")
        if usage is not None:
            sample["mem_bytes"] = usage

    def busy(self, leaf: str, sample: Sample) -> None:
        for path, key in (
            (self.mem + leaf + "memory.failcnt", "mem_max_events"),
            (self.pids + leaf + "pids.current", "tasks"),
        ):
            value = _int(path)
            if value is not None:
                sample[key] = value
        oom = _keyed(_read(self.mem + leaf + "memory.oom_control"))
        if b"oom_kill" in oom:
            sample["mem_oom_kills"] = int(oom[b"oom_kill"])
        quota = _int(self.cpu + leaf + "cpu.cfs_quota_us")
        if quota is not None and quota > 0:
            period = _int(self.cpu + leaf + "cpu.cfs_period_us")
            if period:
                sample["cpu_quota_usec"] = quota
                sample["cpu_period_usec"] = period
        limit = _int(self.mem + leaf + "memory.limit_in_bytes")
        if limit is not None and limit < _V1_UNLIMITED:
            sample["mem_max_bytes"] = limit

    def slow(self, leaf: str, sample: Sample) -> None:
        tasks_max = _int(self.pids + leaf + "pids.max")
        if tasks_max is not None:
            sample["tasks_max"] = tasks_max
        io = _read(self.blkio + leaf + "blkio.throttle.io_service_bytes")
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


def _read_v1(root: str, depth: Depth) -> dict[str, Sample]:
    # The name=systemd hierarchy holds every unit whatever accounting is on: list from it.
    names = account_names(f"{root}/systemd/{PARENT}")
    tree = _V1(root)
    out: dict[str, Sample] = {}
    for name in names:
        leaf = f"acct-{name}.slice/"
        sample: Sample = {}
        tree.cpu_memory(leaf, sample)
        level = depth(name, sample.get("cpu_usage_usec"))  # type: ignore[arg-type]
        if level >= BUSY:
            tree.busy(leaf, sample)
        if level >= FULL:
            tree.slow(leaf, sample)
        out[name] = sample
    return out
