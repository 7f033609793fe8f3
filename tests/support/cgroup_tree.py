"""Fake cgroup trees (real files in a directory) shaped like a server's v2 or v1 hierarchy."""

from __future__ import annotations

from pathlib import Path

PARENT = "acct.slice"


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def v2_account(
    root: Path,
    name: str,
    usage_usec: int = 1_000_000,
    quota: str = "50000 100000",
    memory: int = 64 << 20,
    memory_max: str = str(256 << 20),
    tasks: int = 7,
    tasks_max: str = "100",
    oom_kill: int = 0,
) -> Path:
    slice_dir = root / PARENT / f"acct-{name}.slice"
    _write(
        slice_dir,
        {
            "cpu.stat": f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n"
            "nr_periods 400\nnr_throttled 30\nthrottled_usec 250000\n",
            "cpu.max": f"{quota}\n",
            "memory.current": f"{memory}\n",
            "memory.max": f"{memory_max}\n",
            "memory.high": "max\n",
            "memory.events": f"low 0\nhigh 0\nmax 12\noom 2\noom_kill {oom_kill}\n",
            "memory.pressure": "some avg10=1.50 avg60=0.20 avg300=0.00 total=4321\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=1234\n",
            "pids.current": f"{tasks}\n",
            "pids.max": f"{tasks_max}\n",
            "io.stat": "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
            "8:16 rbytes=5 wbytes=7 rios=1 wios=1 dbytes=0 dios=0\n",
        },
    )
    return slice_dir


def v2_tree(root: Path, names: list[str]) -> Path:
    _write(root, {"cgroup.controllers": "cpuset cpu io memory pids\n"})
    _write(root / PARENT, {"cgroup.controllers": "cpu io memory pids\n"})
    for name in names:
        v2_account(root, name)
    return root


def v1_account(
    root: Path,
    name: str,
    usage_ns: int = 2_000_000_000,
    quota_us: int = 20000,
    limit: int = 128 << 20,
) -> None:
    leaf = f"{PARENT}/acct-{name}.slice"
    _write(root / "systemd" / leaf, {"cgroup.procs": ""})
    _write(root / "cpuacct" / leaf, {"cpuacct.usage": f"{usage_ns}\n"})
    _write(
        root / "cpu" / leaf,
        {
            "cpu.stat": "nr_periods 100\nnr_throttled 9\nthrottled_time 3000000\n",
            "cpu.cfs_quota_us": f"{quota_us}\n",
            "cpu.cfs_period_us": "100000\n",
        },
    )
    _write(
        root / "memory" / leaf,
        {
            "memory.usage_in_bytes": f"{32 << 20}\n",
            "memory.limit_in_bytes": f"{limit}\n",
            "memory.failcnt": "5\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        },
    )
    _write(root / "pids" / leaf, {"pids.current": "3\n", "pids.max": "max\n"})
    _write(
        root / "blkio" / leaf,
        {
            "blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n"
            "8:0 Async 0\n8:0 Total 12288\nTotal 12288\n"
        },
    )


def v1_tree(root: Path, names: list[str]) -> Path:
    for controller in ("systemd", "cpu", "cpuacct", "memory", "pids", "blkio"):
        (root / controller / PARENT).mkdir(parents=True, exist_ok=True)
    for name in names:
        v1_account(root, name)
    return root
